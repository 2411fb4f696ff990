"""Which messages an event causes for a candidate, and what they say. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ifuno_shared.calendar import late_from
from ifuno_shared.events import EventData, Level, Regime
from ifuno_shared.events import candidature as c
from ifuno_shared.events import selection as s

from ifuno_notification.domain import french
from ifuno_notification.domain.offices import PROGRAMME_EMAIL, office_for

INCOMPLETE_REMINDER_AHEAD = timedelta(days=3)
OFFER_REMINDER_AHEAD = timedelta(days=2)

SUBJECTS = {
    "application_received": "Votre candidature au master IFUNO a bien été reçue",
    "application_completed": "Votre dossier de candidature est complet",
    "document_rejected": "Un document de votre candidature n'a pas pu être accepté",
    "incomplete_reminder": "Rappel : votre dossier de candidature est encore incomplet",
    "submission_deadline_moved": "Nouvelle date limite de dépôt de votre dossier de candidature",
    "application_refused": "Votre candidature au master IFUNO",
    "application_withdrawn": "Confirmation du retrait de votre candidature",
    "interview_scheduled": "Convocation à l'entretien de sélection du master IFUNO",
    "admitted": "Vous êtes admis(e) au master IFUNO",
    "promoted": "Une place s'est libérée : vous êtes admis(e) au master IFUNO",
    "waitlisted": "Vous êtes sur liste complémentaire du master IFUNO",
    "waitlist_rank_changed": "Votre rang sur la liste complémentaire a changé",
    "selection_refused": "Décision de la commission de sélection du master IFUNO",
    "offer_reminder": "Rappel : votre proposition d'admission expire bientôt",
    "offer_expired": "Votre proposition d'admission a expiré",
    "offer_accepted": (
        "Confirmation de votre acceptation de la proposition d'admission au master IFUNO"
    ),
    "offer_declined": "Confirmation de votre renoncement au master IFUNO",
    "waitlist_closed": "Clôture de la liste complémentaire du master IFUNO",
    "two_year_plan_recorded": "Votre demande de M2 en deux ans est enregistrée",
}
TEMPLATES = tuple(SUBJECTS)


SELECTION_STEPS = (s.InterviewScheduled, s.Admitted, s.Waitlisted, s.WaitlistRankChanged)
"""Selection's steps that call for the candidate's part: none is told on a closed file."""


@dataclass(frozen=True)
class DueWindow:
    """When a reminder is due: from `opens` (included) until `closes` (excluded).
    Stored with the recipient, so the database finds the reminders due by comparing
    the clock with it, without a second copy of the rule."""

    opens: datetime
    closes: datetime

    def __contains__(self, now: datetime) -> bool:
        return self.opens <= now < self.closes


@dataclass
class Recipient:
    """What notification keeps about a candidate, from the candidature and selection
    events: how to reach them (contact, SMS opt-in) and what the reminders need."""

    application_id: str
    campaign: int
    level: Level
    regime: Regime
    contact: c.Contact
    submitted_at: datetime | None = None
    submission_deadline: datetime | None = None
    complete: bool = False
    closed: bool = False
    """Refused or withdrawn: nothing more to remind."""
    offer_deadline: datetime | None = None
    offer_open: bool = False
    incomplete_reminded: bool = False
    offer_reminded_for: datetime | None = None
    """The offer deadline last reminded (a promotion after an expiry has a new one), or
    told by an offer made less than 2 days before it: the offer was its reminder."""
    events: list[EventData] = field(default_factory=list, compare=False, repr=False)
    """Raised for the unit of work to publish (a recipient raises none: the dispatcher
    announces what was sent)."""

    def apply(self, data: EventData, at: datetime | None = None) -> None:
        """Keep what the reminders need: completeness, closing, the open offer. `at`:
        when the event is read, on the platform's clock (an offer's reminder depends on
        when it was made)."""
        match data:
            case c.ApplicationReceived():
                self.complete = data.complete
                self.submitted_at = data.submitted_at
                self.submission_deadline = data.submission_deadline
            case c.ApplicationCompleted():
                self.complete = True
            case c.SubmissionDeadlineMoved():
                if data.submission_deadline != self.submission_deadline:
                    # The reminder follows the new deadline, once for it.
                    self.submission_deadline = data.submission_deadline
                    self.incomplete_reminded = False
                self.complete = self.complete or data.complete
            case s.Admitted():
                # Read after a withdrawal or refusal (another topic): no offer to remind.
                self.offer_open = not self.closed
                self.offer_deadline = data.offer_deadline
                if at is not None and at > data.offer_deadline - OFFER_REMINDER_AHEAD:
                    # Made within the reminder period (a late promotion, its deadline
                    # capped at the eve of the academic year): no reminder right after it.
                    self.offer_reminded_for = data.offer_deadline
            case s.OfferAccepted() | s.OfferDeclined() | s.OfferExpired() | s.Waitlisted():
                self.offer_open = False
            case (
                c.ApplicationRefused() | c.ApplicationWithdrawn() | s.Refused() | s.WaitlistClosed()
            ):
                self.closed = True
                self.offer_open = False

    @property
    def incomplete_reminder_window(self) -> DueWindow | None:
        """A file still incomplete is reminded from 3 days before the deadline until it,
        once, if the file was already there at that moment (a file sent later was just
        told its missing documents). None: no reminder to come."""
        deadline = self.submission_deadline
        if deadline is None or self.complete or self.closed or self.incomplete_reminded:
            return None
        opens = deadline - INCOMPLETE_REMINDER_AHEAD
        if self.submitted_at is not None and self.submitted_at > opens:
            return None
        return DueWindow(opens, deadline)

    @property
    def offer_reminder_window(self) -> DueWindow | None:
        """An offer still unanswered is reminded from 2 days before it expires until
        its deadline, once per deadline, unless the application is closed (withdrawn or
        refused) or the offer was made after that moment (it told the deadline, see
        `apply`). None: no reminder to come."""
        deadline = self.offer_deadline
        if deadline is None or self.closed or not self.offer_open:
            return None
        if self.offer_reminded_for == deadline:
            return None
        return DueWindow(deadline - OFFER_REMINDER_AHEAD, deadline)

    def incomplete_reminder_due(self, now: datetime) -> bool:
        window = self.incomplete_reminder_window
        return window is not None and now in window

    def offer_reminder_due(self, now: datetime) -> bool:
        window = self.offer_reminder_window
        return window is not None and now in window

    def mark_incomplete_reminded(self) -> None:
        """The reminder is recorded: there is no second one."""
        self.incomplete_reminded = True

    def mark_offer_reminded(self) -> None:
        """The reminder is recorded: none again for this deadline."""
        self.offer_reminded_for = self.offer_deadline


@dataclass(frozen=True)
class Message:
    template: str
    context: dict[str, Any]

    @property
    def subject(self) -> str:
        return SUBJECTS[self.template]


def context_for(recipient: Recipient, **values: Any) -> dict[str, Any]:
    office = office_for(recipient.regime)
    return {
        "first_name": recipient.contact.first_name,
        "last_name": recipient.contact.last_name,
        "level": recipient.level.value,
        "campaign": recipient.campaign,
        "application_id": recipient.application_id,
        "office": office,
        "programme_email": PROGRAMME_EMAIL,
        **values,
    }


def _deadline(instant: datetime | None) -> dict[str, str | None]:
    return {
        "deadline": french.datetime_fr(instant) if instant else None,
        "deadline_short": french.short_date_fr(instant) if instant else None,
    }


def _still_to_complete(
    data: c.SubmissionDeadlineMoved, recipient: Recipient, at: datetime | None
) -> bool:
    """A moved deadline is told to an open file still incomplete, while the new deadline
    is ahead (one moved into the past closes the file, and its refusal tells it)."""
    if data.complete or recipient.complete or recipient.closed:
        return False
    if data.submission_deadline == recipient.submission_deadline:
        return False
    return at is None or at < late_from(data.submission_deadline)


def _document_outcome(data: c.DocumentRejected, recipient: Recipient) -> str:
    """What the candidate can still do about a refused document, from candidature's
    code: `send_again` only for a bad file while the file is open (a late one would be
    refused again), `late`, `closed`, or `passed_to_staff` (on time, read after the
    closing: staff have it). An event from before the code: as the file's state says."""
    match data.cause:
        case c.DocumentRefusal.LATE:
            return "late"
        case c.DocumentRefusal.FILE_CLOSED:
            return "closed"
        case c.DocumentRefusal.ON_TIME_AFTER_CLOSING:
            return "passed_to_staff"
    return "closed" if recipient.closed else "send_again"


def messages_for(
    data: EventData, recipient: Recipient, at: datetime | None = None
) -> list[Message]:
    """The candidate-facing messages an event causes (one, or none for internal events).
    `recipient` is the state before the event; `at`, when it is read on the platform's
    clock (if known)."""

    def one(template: str, **values: Any) -> list[Message]:
        return [Message(template, context_for(recipient, **values))]

    if recipient.closed and isinstance(data, SELECTION_STEPS):
        # Decided before selection read the withdrawal (another topic): the candidate,
        # told the withdrawal is recorded, is not offered a place or an interview.
        return []
    match data:
        case c.ApplicationReceived():
            return one(
                "application_received",
                missing=[french.DOCUMENTS[k] for k in data.missing_documents],
                **_deadline(data.submission_deadline),
            )
        case c.ApplicationCompleted():
            return one("application_completed")
        case c.SubmissionDeadlineMoved():
            return (
                one("submission_deadline_moved", **_deadline(data.submission_deadline))
                if _still_to_complete(data, recipient, at)
                else []
            )
        case c.DocumentRejected():
            return one(
                "document_rejected",
                document=french.DOCUMENTS[data.kind],
                reason=data.reason,
                outcome=_document_outcome(data, recipient),
            )
        case c.ApplicationRefused():
            return one(
                "application_refused",
                reason=french.reason_fr(data.reason, french.CANDIDATURE_REFUSALS),
                missing=[french.DOCUMENTS[k] for k in data.missing_documents]
                if data.reason == "incomplete_at_deadline"
                else [],
            )
        case c.ApplicationWithdrawn():
            return one("application_withdrawn")
        case s.InterviewScheduled():
            return one(
                "interview_scheduled",
                date=french.date_fr(data.starts_at),
                time=french.time_fr(data.starts_at),
                end_time=french.time_fr(data.ends_at),
                short=french.short_date_fr(data.starts_at),
                location=data.location,
                video_url=data.video_url,
                short_notice=data.short_notice,
                notice_days=data.notice_days,
            )
        case s.Admitted():
            return one(
                "promoted" if data.from_waitlist else "admitted", **_deadline(data.offer_deadline)
            )
        case s.Waitlisted():
            return one("waitlisted", rank=data.rank, late_answer=data.late_answer)
        case s.WaitlistClosed():
            return one("waitlist_closed")
        case s.TwoYearPlanRecorded():
            return one("two_year_plan_recorded")
        case s.WaitlistRankChanged():
            return one("waitlist_rank_changed", rank=data.rank, previous_rank=data.previous_rank)
        case s.Refused():
            return one(
                "selection_refused", reason=french.reason_fr(data.reason, french.SELECTION_REFUSALS)
            )
        case s.OfferExpired():
            return one("offer_expired")
        case s.OfferAccepted():
            return one("offer_accepted")
        case s.OfferDeclined():
            return one("offer_declined")
    return []


def incomplete_reminder(recipient: Recipient) -> Message:
    return Message(
        "incomplete_reminder", context_for(recipient, **_deadline(recipient.submission_deadline))
    )


def offer_reminder(recipient: Recipient) -> Message:
    return Message("offer_reminder", context_for(recipient, **_deadline(recipient.offer_deadline)))
