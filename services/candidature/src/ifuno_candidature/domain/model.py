"""The application aggregate: a candidate's file for one campaign, and what happens to it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from ifuno_shared.calendar import late_from
from ifuno_shared.errors import Conflict
from ifuno_shared.events import DocumentKind, EventData, Level, Regime, Round
from ifuno_shared.events import candidature as out
from ifuno_shared.events.portal import ApplicationSubmitted, Diploma, Document

from ifuno_candidature.domain.contacts import contact_from
from ifuno_candidature.domain.rules import (
    check_prerequisites,
    document_problem,
    required_documents,
)


class Status(StrEnum):
    INCOMPLETE = "incomplete"
    COMPLETE = "complete"
    REFUSED = "refused"
    WITHDRAWN = "withdrawn"


LIVE = frozenset({Status.INCOMPLETE, Status.COMPLETE})


CLOSED_FILE = {
    Status.REFUSED: "candidature refusée : document non ajouté",
    Status.WITHDRAWN: "candidature retirée : document non ajouté",
}
LATE_DOCUMENT = "document déposé après la date limite : non ajouté"
ON_TIME_AFTER_CLOSING = (
    "document déposé à temps mais reçu après la clôture du dossier : non ajouté, signalé au service"
)
Refusal = tuple[out.DocumentRefusal, str]
"""Why a document does not join the file: the code and the French reason."""

DEADLINE_GRACE = timedelta(minutes=10)
"""How long after the deadline minute incomplete files wait before they are closed:
on-time submissions and uploads still in flight (other topics, consumer lag) are read
first (`IFUNO_CANDIDATURE_GRACE_MINUTES`)."""


class RefusalReason(StrEnum):
    CAMPAIGN_CLOSED = "campaign_closed"
    INCOMPLETE_AT_DEADLINE = "incomplete_at_deadline"
    DUPLICATE_APPLICATION = "duplicate_application"
    NO_PLACES_LEFT = "no_places_left"


class NotLive(Conflict):
    """The file is refused or withdrawn: nothing more can change it."""


@dataclass
class FileDocument:
    document: Document
    received_at: datetime
    problem: str | None = None

    @property
    def accepted(self) -> bool:
        return self.problem is None


@dataclass
class Application:
    application_id: str
    campaign: int
    level: Level
    regime: Regime
    candidate: out.Contact
    employed: bool
    highest_diploma: Diploma | None
    vapp: bool
    training_experience_years: int
    submitted_at: datetime
    round: Round | None
    submission_deadline: datetime | None
    status: Status = Status.INCOMPLETE
    refusal_reason: str | None = None
    eligible: bool = True
    eligibility_reasons: list[str] = field(default_factory=list)
    eligibility_overridden_by: str | None = None
    completed_at: datetime | None = None
    documents: list[FileDocument] = field(default_factory=list)
    phone_as_given: str | None = None
    """The number as the candidate typed it, kept only when it was unusable (for staff)."""
    events: list[EventData] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def from_portal(
        cls, data: ApplicationSubmitted, round_: Round | None, deadline: datetime | None
    ) -> Application:
        prerequisites = check_prerequisites(
            data.level, data.regime, data.highest_diploma, data.vapp, data.training_experience_years
        )
        contact = contact_from(data.candidate)
        app = cls(
            application_id=data.application_id,
            campaign=data.campaign,
            level=data.level,
            regime=data.regime,
            candidate=contact,
            employed=data.employed,
            highest_diploma=data.highest_diploma,
            vapp=data.vapp,
            training_experience_years=data.training_experience_years,
            submitted_at=data.submitted_at,
            round=round_,
            submission_deadline=deadline,
            eligible=prerequisites.eligible,
            eligibility_reasons=list(prerequisites.reasons),
            phone_as_given=data.candidate.phone if contact.phone_unusable else None,
        )
        app.events.append(
            out.ContactRecorded(
                application_id=app.application_id,
                campaign=app.campaign,
                level=app.level,
                regime=app.regime,
                candidate=contact,
            )
        )
        return app

    @property
    def live(self) -> bool:
        return self.status in LIVE

    @property
    def late_from(self) -> datetime | None:
        """When an incomplete file of this round closes (None: refused at the door)."""
        return None if self.submission_deadline is None else late_from(self.submission_deadline)

    def closes_by(self, now: datetime, grace: timedelta) -> bool:
        """Whether the clock at `now` is past this file's closing instant (the deadline
        minute, then the grace period)."""
        late = self.late_from
        return late is not None and now >= late + grace

    def on_time(self, instant: datetime) -> bool:
        """Whether something the candidate did at `instant` counts for this file."""
        late = self.late_from
        return late is None or instant < late

    @property
    def eligibility(self) -> out.Eligibility:
        return out.Eligibility(eligible=self.eligible, reasons=list(self.eligibility_reasons))

    def accepted_kinds(self) -> set[DocumentKind]:
        return {d.document.kind for d in self.documents if d.accepted}

    def missing_documents(self) -> list[DocumentKind]:
        accepted = self.accepted_kinds()
        required = required_documents(self.employed, self.vapp, accepted)
        return [kind for kind in DocumentKind if kind in required and kind not in accepted]

    def receive(self, submitted_documents: list[Document], at: datetime) -> None:
        """A new file within an open round: its documents, then its first status."""
        for document in submitted_documents:
            self._add_document(document, at)
        self.events.append(
            out.ApplicationReceived(
                application_id=self.application_id,
                campaign=self.campaign,
                round=self._round(),
                level=self.level,
                regime=self.regime,
                missing_documents=self.missing_documents(),
                eligibility=self.eligibility,
                submitted_at=self.submitted_at,
                submission_deadline=self.submission_deadline,
                complete=not self.missing_documents(),
            )
        )
        self._complete_if_ready(at)

    def add_document(self, document: Document, uploaded_at: datetime) -> None:
        """A document joins the file if the candidate uploaded it before the deadline
        minute ended, whenever it is read; the portal is told why otherwise, never
        silence. A closed file is never reopened (other services acted on its refusal
        and the candidate was told): an on-time document read after the closing is kept
        for staff, flagged, and the candidate told."""
        if not self.live:
            if self._closed_before_reading(uploaded_at):
                self._add_document(
                    document,
                    uploaded_at,
                    (out.DocumentRefusal.ON_TIME_AFTER_CLOSING, ON_TIME_AFTER_CLOSING),
                )
            else:
                self._reject(document, (out.DocumentRefusal.FILE_CLOSED, CLOSED_FILE[self.status]))
            return
        if not self.on_time(uploaded_at):
            self._add_document(document, uploaded_at, (out.DocumentRefusal.LATE, LATE_DOCUMENT))
            return
        self._add_document(document, uploaded_at)
        self._complete_if_ready(uploaded_at)

    def _closed_before_reading(self, uploaded_at: datetime) -> bool:
        return self.refusal_reason == RefusalReason.INCOMPLETE_AT_DEADLINE.value and self.on_time(
            uploaded_at
        )

    def keep_unreviewed(self, submitted_documents: list[Document], at: datetime) -> None:
        """A file refused at the door keeps what was sent with it, for the record."""
        self.documents = [FileDocument(d, at, document_problem(d)) for d in submitted_documents]

    def refuse(self, reason: RefusalReason) -> None:
        self.status = Status.REFUSED
        self.refusal_reason = reason.value
        self.events.append(
            out.ApplicationRefused(
                application_id=self.application_id,
                reason=reason.value,
                campaign=self.campaign,
                level=self.level,
                regime=self.regime,
                round=self.round,
                missing_documents=self.missing_documents(),
            )
        )

    def close_at_deadline(self) -> bool:
        """At the round's deadline an incomplete file is closed; True if it was."""
        if self.status is not Status.INCOMPLETE:
            return False
        self.refuse(RefusalReason.INCOMPLETE_AT_DEADLINE)
        return True

    def withdraw(self, reason: str | None) -> bool:
        """True if the file was live and is now withdrawn; a repeat changes nothing."""
        if not self.live:
            return False
        self.status = Status.WITHDRAWN
        self.events.append(
            out.ApplicationWithdrawn(
                application_id=self.application_id,
                level=self.level,
                campaign=self.campaign,
                reason=reason,
            )
        )
        return True

    def override_eligibility(self, eligible: bool, by: str, note: str | None) -> None:
        """Staff decide over a failed automatic check; the reasons are kept for the record."""
        if not self.live:
            raise NotLive(f"application is {self.status.value}")
        self.eligible = eligible
        self.eligibility_overridden_by = by
        self.events.append(
            out.EligibilityOverridden(
                application_id=self.application_id,
                eligibility=self.eligibility,
                overridden_by=by,
                note=note,
            )
        )

    def _round(self) -> Round:
        assert self.round is not None, "a received application belongs to a round"
        return self.round

    def _add_document(
        self, document: Document, at: datetime, refusal: Refusal | None = None
    ) -> None:
        """A document sent again under its id replaces the earlier copy, unless the new
        one is refused (late, wrong type, too big) and the earlier one was accepted: the
        file keeps what it had, and the refusal is reported. When the document is both
        late (or the file closed) and a bad file, lateness is the reason given: sending
        a better file would not help."""
        if refusal is None and (problem := document_problem(document)) is not None:
            refusal = (out.DocumentRefusal.INVALID_FILE, problem)
        if refusal is not None:
            self._reject(document, refusal)
            if any(
                d.accepted and d.document.document_id == document.document_id
                for d in self.documents
            ):
                return
        self.documents = [
            d for d in self.documents if d.document.document_id != document.document_id
        ]
        self.documents.append(FileDocument(document, at, None if refusal is None else refusal[1]))

    def _reject(self, document: Document, refusal: Refusal) -> None:
        cause, reason = refusal
        self.events.append(
            out.DocumentRejected(
                application_id=self.application_id,
                document_id=document.document_id,
                kind=document.kind,
                reason=reason,
                cause=cause,
            )
        )

    def _complete_if_ready(self, at: datetime) -> None:
        if self.status is Status.INCOMPLETE and not self.missing_documents():
            self.status = Status.COMPLETE
            self.completed_at = at
            self.events.append(
                out.ApplicationCompleted(
                    application_id=self.application_id,
                    campaign=self.campaign,
                    round=self.round,
                    level=self.level,
                    completed_at=at,
                    eligibility=self.eligibility,
                )
            )
