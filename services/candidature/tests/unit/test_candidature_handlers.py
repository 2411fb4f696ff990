"""The handlers on fakes: what each portal or timeline event does to a file."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import pytest
from ifuno_candidature.domain.model import (
    LATE_DOCUMENT,
    ON_TIME_AFTER_CLOSING,
    Application,
    Status,
)
from ifuno_candidature.domain.windows import RoundWindow, default_windows
from ifuno_candidature.service_layer import handlers
from ifuno_candidature.service_layer.unit_of_work import CandidatureUnitOfWork
from ifuno_shared.calendar import PARIS, default_calendar
from ifuno_shared.events import CloudEvent, EventData, Level, Phase, Round, Topic, new_event
from ifuno_shared.events import candidature as out
from ifuno_shared.events.portal import (
    ApplicationSubmitted,
    ApplicationWithdrawn,
    Candidate,
    Diploma,
    Document,
    DocumentUploaded,
    ErasureRequested,
)
from ifuno_shared.events.selection import ComplementaryRoundClosed, ComplementaryRoundOpened
from ifuno_shared.events.timeline import CalendarChanged, ClockAdvanced, PhaseStarted, PhaseWindow
from ifuno_tools.testing.fakes import FakeRepository, FakeUnitOfWork

pytestmark = pytest.mark.unit

DEADLINE = default_calendar(2027).main_submissions_close
MIDNIGHT = DEADLINE + timedelta(minutes=1)  # the first late instant, 16 May 00:00
CLOSING = MIDNIGHT + timedelta(minutes=10)  # after the grace period


class FakeApplications(FakeRepository[str, Application]):
    """The kit's fake repository, with the queries the handlers make of applications."""

    def __init__(self) -> None:
        super().__init__(lambda app: app.application_id)
        self.opened: set[tuple[int, Level]] = set()
        self.announced: dict[tuple[int, Round], RoundWindow] = {}
        self.erasures: dict[str, str] = {}

    async def save(self, aggregate: Application) -> None:
        """Stored as the table keeps it, without the events: a later unit of work must
        not publish them again (as the SQL repository's copies)."""
        await super().save(aggregate)
        self.stored[aggregate.application_id].events = []

    async def get_many(self, keys: Iterable[str]) -> list[Application]:
        return [app for key in keys if (app := await self.get(key)) is not None]

    async def live_for_candidate(self, candidate_id: str, campaign: int) -> str | None:
        return next(
            (
                a.application_id
                for a in self.stored.values()
                if a.candidate.candidate_id == candidate_id and a.campaign == campaign and a.live
            ),
            None,
        )

    async def incomplete_late_in(self, after: datetime | None, until: datetime) -> list[str]:
        return [
            a.application_id
            for a in self.stored.values()
            if a.status is Status.INCOMPLETE
            and a.late_from is not None
            and (after is None or a.late_from > after)
            and a.late_from <= until
        ]

    async def move_deadline(
        self, campaign: int, round_: Round, deadline: datetime
    ) -> list[tuple[str, bool]]:
        moved = []
        for a in self.stored.values():
            if (
                a.campaign == campaign
                and a.round is round_
                and a.live
                and a.submission_deadline != deadline
            ):
                a.submission_deadline = deadline
                moved.append((a.application_id, a.status is Status.COMPLETE))
        return sorted(moved)

    async def windows(self, campaign: int) -> list[RoundWindow]:
        return [self.announced.get((campaign, w.round), w) for w in default_windows(campaign)]

    async def set_window(self, campaign: int, window: RoundWindow) -> None:
        self.announced[(campaign, window.round)] = window

    async def complementary_open_for(self, campaign: int, level: Level) -> bool:
        return (campaign, level) in self.opened

    async def open_complementary(self, campaign: int, level: Level, free_places: int) -> None:
        self.opened.add((campaign, level))

    async def close_complementary(self, campaign: int, level: Level) -> None:
        self.opened.discard((campaign, level))

    async def erased(self, application_id: str) -> bool:
        return application_id in self.erasures

    async def erase(
        self, application_ids: list[str], cause: str, at: datetime
    ) -> list[tuple[str, int | None]]:
        fresh = [i for i in sorted(set(application_ids)) if i not in self.erasures]
        erased = []
        for application_id in fresh:
            app = self.stored.pop(application_id, None)
            self.erasures[application_id] = cause
            erased.append((application_id, app.campaign if app else None))
        return erased

    async def campaigns_holding_data(self, up_to: int) -> list[int]:
        return sorted({a.campaign for a in self.stored.values() if a.campaign <= up_to})

    async def not_erased_in(self, campaign: int, limit: int) -> list[str]:
        return sorted(a.application_id for a in self.stored.values() if a.campaign == campaign)[
            :limit
        ]


class FakeCandidatureUoW(FakeUnitOfWork, CandidatureUnitOfWork):
    def __init__(self) -> None:
        super().__init__()
        self.applications = FakeApplications()
        self.repositories = [self.applications]


def document(kind: str, number: int, content_type: str = "application/pdf") -> Document:
    return Document(
        kind=kind,
        document_id=f"D-{number}",
        filename=f"{kind}.pdf",
        content_type=content_type,
        size_bytes=2000,
        sha256="1" * 64,
    )


FULL = [document("cv", 1), document("cover_letter", 2), document("diploma", 3)]


def submitted(
    application_id: str = "A-1",
    documents: list[Document] = FULL,
    at: datetime = datetime(2027, 5, 2, 14, 3, tzinfo=PARIS),
    candidate_id: str = "C-1",
    employed: bool = False,
    phone: str | None = None,
    level: str = "M1",
) -> CloudEvent:
    return new_event(
        ApplicationSubmitted(
            application_id=application_id,
            campaign=2027,
            level=level,
            regime="formation_initiale",
            candidate=Candidate(
                candidate_id=candidate_id,
                first_name="Zoé",
                last_name="Gérard",
                email="zoe@example.org",
                phone=phone,
                sms_opt_in=phone is not None,
            ),
            employed=employed,
            highest_diploma=Diploma(level="bac+3", field="psychologie", title="Licence"),
            vapp=False,
            training_experience_years=0,
            documents=documents,
            submitted_at=at,
        ),
        subject=application_id,
    )


def upload_of(
    doc: Document,
    application_id: str = "A-1",
    uploaded_at: datetime | None = datetime(2027, 5, 9, 8, 30, tzinfo=PARIS),
    time: datetime | None = None,
) -> CloudEvent:
    return new_event(
        DocumentUploaded(application_id=application_id, document=doc, uploaded_at=uploaded_at),
        subject=application_id,
        time=time,
    )


async def run(uow: FakeCandidatureUoW, event: CloudEvent) -> list[EventData]:
    """What the handler published on the candidature topic (contacts: `contacts`)."""
    async with uow:
        await handlers.HANDLERS[type(event.data)](event, uow)
        await uow.commit()
    return [e.data for e in uow.published if e.data.topic is Topic.CANDIDATURE]


def contacts(uow: FakeCandidatureUoW) -> list[out.Contact]:
    """The contact details published on the contacts topic by the last unit of work."""
    return [e.data.candidate for e in uow.published if isinstance(e.data, out.ContactRecorded)]


async def test_a_complete_file_is_received_then_completed() -> None:
    published = await run(FakeCandidatureUoW(), submitted())
    assert [type(p) for p in published] == [out.ApplicationReceived, out.ApplicationCompleted]
    received = published[0]
    assert isinstance(received, out.ApplicationReceived)
    assert received.missing_documents == [] and received.complete
    assert received.submission_deadline == DEADLINE


async def test_an_employed_candidate_without_job_description_is_incomplete() -> None:
    uow = FakeCandidatureUoW()
    published = await run(uow, submitted(employed=True))
    assert len(published) == 1
    assert isinstance(published[0], out.ApplicationReceived)
    assert published[0].missing_documents == ["job_description"]
    upload = upload_of(document("job_description", 4))
    assert [type(p) for p in await run(uow, upload)] == [out.ApplicationCompleted]


async def test_a_rejected_document_is_reported_and_leaves_the_file_incomplete() -> None:
    uow = FakeCandidatureUoW()
    docs = [
        document("cv", 1),
        document("cover_letter", 2),
        document("diploma", 3, "application/zip"),
    ]
    published = await run(uow, submitted(documents=docs))
    assert [type(p) for p in published] == [out.DocumentRejected, out.ApplicationReceived]
    assert isinstance(published[1], out.ApplicationReceived)
    assert published[1].missing_documents == ["diploma"]


async def test_a_late_submission_is_refused_campaign_closed_and_kept() -> None:
    uow = FakeCandidatureUoW()
    late = submitted(at=DEADLINE + timedelta(minutes=1))
    published = await run(uow, late)
    assert len(published) == 1 and isinstance(published[0], out.ApplicationRefused)
    assert published[0].reason == "campaign_closed"
    assert published[0].candidate is None  # the contact goes on its own topic
    assert [c.email for c in contacts(uow)] == ["zoe@example.org"]
    assert uow.applications.stored["A-1"].documents


async def test_a_second_live_application_of_the_same_candidate_is_refused() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, submitted("A-1"))
    published = await run(uow, submitted("A-2"))
    assert isinstance(published[0], out.ApplicationRefused)
    assert published[0].reason == "duplicate_application"


async def test_the_same_application_submitted_twice_is_received_once() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, submitted())
    assert await run(uow, submitted()) == []


async def test_a_complementary_file_needs_its_level_to_have_places() -> None:
    uow = FakeCandidatureUoW()
    july = datetime(2027, 7, 10, 10, 0, tzinfo=PARIS)
    published = await run(uow, submitted(at=july))
    assert isinstance(published[0], out.ApplicationRefused)
    assert published[0].reason == "no_places_left"
    uow.applications.opened.add((2027, Level.M1))
    published = await run(uow, submitted("A-2", at=july, candidate_id="C-2"))
    assert (
        isinstance(published[0], out.ApplicationReceived) and published[0].round == "complementary"
    )


async def test_an_incomplete_file_is_closed_once_when_the_clock_passes_the_deadline() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, submitted(documents=FULL[:2]))

    assert await run(uow, tick(DEADLINE)) == []  # the deadline minute is still open
    published = await run(uow, tick(DEADLINE + timedelta(hours=1)))
    assert len(published) == 1 and isinstance(published[0], out.ApplicationRefused)
    assert published[0].reason == "incomplete_at_deadline"
    assert published[0].missing_documents == ["diploma"]
    assert await run(uow, tick(DEADLINE + timedelta(days=1))) == []


async def test_a_withdrawal_is_published_once() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, submitted())
    withdrawal = new_event(ApplicationWithdrawn(application_id="A-1", reason=None), subject="A-1")
    assert [type(p) for p in await run(uow, withdrawal)] == [out.ApplicationWithdrawn]
    assert await run(uow, withdrawal) == []


async def test_an_upload_for_an_unknown_application_is_an_error() -> None:
    upload = new_event(
        DocumentUploaded(application_id="nope", document=document("cv", 1)), subject="nope"
    )
    with pytest.raises(handlers.UnknownApplication):
        await run(FakeCandidatureUoW(), upload)


async def test_staff_override_a_failed_check() -> None:
    uow = FakeCandidatureUoW()
    event = submitted()
    assert isinstance(event.data, ApplicationSubmitted)
    weak = event.data.model_copy(
        update={"highest_diploma": Diploma(level="bac+2", field="x", title="BTS")}
    )
    await run(uow, new_event(weak, subject="A-1"))
    assert not uow.applications.stored["A-1"].eligible
    app = await handlers.override_eligibility(uow, "A-1", True, "y.chen", "expérience validée")
    assert app.eligible and app.eligibility_reasons == ["m1_requires_bac3_or_vapp"]
    assert isinstance(uow.published[0].data, out.EligibilityOverridden)


async def test_an_incomplete_file_read_after_the_deadline_tick_is_closed_at_once() -> None:
    uow = FakeCandidatureUoW()
    await uow.clock.advance(ClockAdvanced(campaign=2027, now=DEADLINE + timedelta(hours=2)))
    published = await run(uow, submitted(documents=FULL[:1]))
    assert [type(p) for p in published] == [out.ApplicationReceived, out.ApplicationRefused]
    assert isinstance(published[1], out.ApplicationRefused)
    assert published[1].reason == "incomplete_at_deadline"


def tick(now: datetime) -> CloudEvent:
    return new_event(ClockAdvanced(campaign=2027, now=now), subject="2027")


def main_round_announced(closes_at: datetime) -> CloudEvent:
    opens_at = default_calendar(2027).main_submissions_open
    return new_event(
        PhaseStarted(
            campaign=2027,
            phase=Phase.MAIN_SUBMISSIONS_OPEN,
            starts_at=opens_at,
            ends_at=closes_at,
        ),
        subject="2027",
    )


async def test_an_incomplete_file_closes_at_midnight_paris_time_then_the_grace_period() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, submitted(documents=FULL[:2]))
    midnight_in_utc = datetime(2027, 5, 15, 22, 0, tzinfo=UTC)  # summer time: UTC+2
    assert await run(uow, tick(midnight_in_utc)) == []
    assert await run(uow, tick(CLOSING - timedelta(microseconds=1))) == []
    published = await run(uow, tick(datetime(2027, 5, 15, 22, 10, tzinfo=UTC)))
    assert isinstance(published[0], out.ApplicationRefused)
    assert published[0].reason == "incomplete_at_deadline"


async def test_without_a_grace_period_the_file_closes_at_midnight_not_a_microsecond_before() -> (
    None
):
    uow = FakeCandidatureUoW()
    uow.grace = timedelta(0)
    await run(uow, submitted(documents=FULL[:2]))
    last_instant = datetime(2027, 5, 15, 23, 59, 59, 999_999, tzinfo=PARIS)
    assert await run(uow, tick(last_instant)) == []
    [refused] = await run(uow, tick(MIDNIGHT))
    assert isinstance(refused, out.ApplicationRefused)


async def test_lateness_is_decided_by_submitted_at_not_by_the_platform_clock() -> None:
    uow = FakeCandidatureUoW()
    await uow.clock.advance(ClockAdvanced(campaign=2027, now=DEADLINE + timedelta(days=3)))
    on_time = submitted(at=DEADLINE + timedelta(seconds=59))
    published = await run(uow, on_time)
    assert [type(p) for p in published] == [out.ApplicationReceived, out.ApplicationCompleted]


async def test_a_deadline_extended_by_the_timeline_is_followed() -> None:
    uow = FakeCandidatureUoW()
    extended = datetime(2027, 5, 20, 23, 59, tzinfo=PARIS)
    await run(uow, submitted("A-1", documents=FULL[:2]))
    await run(uow, main_round_announced(extended))
    late_by_default = datetime(2027, 5, 18, 9, 0, tzinfo=PARIS)
    published = await run(uow, submitted("A-2", at=late_by_default, candidate_id="C-2"))
    assert isinstance(published[0], out.ApplicationReceived)
    assert published[0].submission_deadline == extended
    assert await run(uow, tick(DEADLINE + timedelta(days=1))) == []
    closed = await run(uow, tick(extended + timedelta(minutes=11)))
    assert [(p.application_id, type(p)) for p in closed] == [("A-1", out.ApplicationRefused)]


async def test_a_deadline_moved_into_the_past_closes_the_incomplete_files_at_once() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, submitted("A-1", documents=FULL[:2]))
    await run(uow, tick(datetime(2027, 5, 10, 12, 0, tzinfo=PARIS)))
    published = await run(uow, main_round_announced(datetime(2027, 5, 8, 23, 59, tzinfo=PARIS)))
    assert [type(p) for p in published] == [out.SubmissionDeadlineMoved, out.ApplicationRefused]
    assert isinstance(published[1], out.ApplicationRefused)
    assert published[1].reason == "incomplete_at_deadline"


async def test_a_complementary_round_opened_by_selection_accepts_that_level_only() -> None:
    uow = FakeCandidatureUoW()
    opened = new_event(
        ComplementaryRoundOpened(campaign=2027, level="M2", free_places=3), subject="2027"
    )
    await run(uow, opened)
    july = datetime(2027, 7, 10, 10, 0, tzinfo=PARIS)
    published = await run(uow, submitted("A-1", at=july))
    assert isinstance(published[0], out.ApplicationRefused)
    assert published[0].reason == "no_places_left"
    assert published[0].round == "complementary"


async def test_completed_at_is_when_the_candidate_uploaded_the_last_required_document() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, submitted(documents=FULL[:2]))
    uploaded = datetime(2027, 5, 9, 8, 30, tzinfo=PARIS)
    await run(uow, tick(uploaded + timedelta(hours=3)))
    [completed] = await run(uow, upload_of(FULL[2], uploaded_at=uploaded))
    assert isinstance(completed, out.ApplicationCompleted)
    assert completed.completed_at == uploaded
    assert completed.round == "main" and completed.level == "M1"


async def test_without_uploaded_at_the_events_time_is_the_candidates_time() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, submitted(documents=FULL[:2]))
    late = upload_of(FULL[2], uploaded_at=None, time=MIDNIGHT + timedelta(seconds=5))
    [rejected] = await run(uow, late)
    assert isinstance(rejected, out.DocumentRejected) and rejected.reason == LATE_DOCUMENT
    on_time = upload_of(FULL[2], uploaded_at=None, time=DEADLINE + timedelta(seconds=30))
    assert [type(p) for p in await run(uow, on_time)] == [out.ApplicationCompleted]


async def test_a_vapp_candidate_is_complete_without_a_diploma() -> None:
    uow = FakeCandidatureUoW()
    event = submitted(documents=[*FULL[:2], document("vapp_decision", 5)])
    assert isinstance(event.data, ApplicationSubmitted)
    vapp = event.data.model_copy(update={"vapp": True, "highest_diploma": None})
    published = await run(uow, new_event(vapp, subject="A-1"))
    assert [type(p) for p in published] == [out.ApplicationReceived, out.ApplicationCompleted]
    assert isinstance(published[0], out.ApplicationReceived)
    assert published[0].eligibility.eligible


async def test_a_refused_document_does_not_replace_an_accepted_one_of_the_same_kind() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, submitted())
    bad_cv = document("cv", 8, "application/x-msdownload")
    published = await run(
        uow, new_event(DocumentUploaded(application_id="A-1", document=bad_cv), subject="A-1")
    )
    assert [type(p) for p in published] == [out.DocumentRejected]
    assert uow.applications.stored["A-1"].status is Status.COMPLETE


async def test_each_refused_document_says_why_as_a_code_for_the_message_to_follow() -> None:
    """Notification tells the candidate to send the file again only when that can help."""
    uow = FakeCandidatureUoW()
    await run(uow, submitted(documents=FULL[:1]))
    [bad_file] = await run(uow, upload_of(document("cover_letter", 2, "application/zip")))
    late_and_bad = upload_of(document("cover_letter", 2, "application/zip"), uploaded_at=MIDNIGHT)
    [late] = await run(uow, late_and_bad)
    await run(uow, tick(CLOSING))
    on_time = datetime(2027, 5, 15, 23, 0, tzinfo=PARIS)
    [after_closing] = await run(uow, upload_of(FULL[1], uploaded_at=on_time))
    [closed] = await run(uow, upload_of(FULL[2], uploaded_at=CLOSING))
    causes = [
        (r.cause, r.reason)
        for r in (bad_file, late, after_closing, closed)
        if isinstance(r, out.DocumentRejected)
    ]
    assert causes == [
        (out.DocumentRefusal.INVALID_FILE, causes[0][1]),
        (out.DocumentRefusal.LATE, LATE_DOCUMENT),
        (out.DocumentRefusal.ON_TIME_AFTER_CLOSING, ON_TIME_AFTER_CLOSING),
        (out.DocumentRefusal.FILE_CLOSED, "candidature refusée : document non ajouté"),
    ]
    assert causes[0][1].startswith("type de fichier non accepté")


async def test_a_refused_resend_under_the_same_id_keeps_the_accepted_copy() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, submitted())
    same_id_as_the_cv = document("cv", 1, "application/zip")
    [rejected] = await run(uow, upload_of(same_id_as_the_cv))
    assert isinstance(rejected, out.DocumentRejected) and rejected.document_id == "D-1"
    stored = uow.applications.stored["A-1"]
    assert stored.status is Status.COMPLETE and stored.missing_documents() == []
    kept = [(d.document.document_id, d.document.content_type) for d in stored.documents]
    assert ("D-1", "application/pdf") in kept and ("D-1", "application/zip") not in kept


async def test_a_late_resend_of_an_accepted_document_does_not_undo_the_file() -> None:
    """The CV was there on time: sending it again after the deadline must not leave
    the file short of a CV and closed for it."""
    uow = FakeCandidatureUoW()
    await run(uow, submitted(documents=FULL[:2]))
    [rejected] = await run(uow, upload_of(FULL[0], uploaded_at=MIDNIGHT + timedelta(hours=1)))
    assert isinstance(rejected, out.DocumentRejected) and rejected.reason == LATE_DOCUMENT
    [refused] = await run(uow, tick(CLOSING))
    assert isinstance(refused, out.ApplicationRefused)
    assert refused.missing_documents == ["diploma"]


async def test_an_accepted_resend_under_the_same_id_replaces_the_earlier_copy() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, submitted(documents=[document("cv", 1, "application/zip"), *FULL[1:]]))
    assert uow.applications.stored["A-1"].missing_documents() == ["cv"]
    [completed] = await run(uow, upload_of(FULL[0]))
    assert isinstance(completed, out.ApplicationCompleted)
    assert [d.document.document_id for d in uow.applications.stored["A-1"].documents].count(
        "D-1"
    ) == 1


async def test_a_document_for_a_closed_file_is_rejected_with_the_reason() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, submitted(documents=FULL[:2]))
    await run(uow, tick(DEADLINE + timedelta(hours=1)))
    published = await run(uow, upload_of(FULL[2], uploaded_at=DEADLINE + timedelta(minutes=30)))
    assert len(published) == 1 and isinstance(published[0], out.DocumentRejected)
    assert published[0].reason == "candidature refusée : document non ajouté"
    assert uow.applications.stored["A-1"].status is Status.REFUSED
    assert uow.applications.stored["A-1"].missing_documents() == ["diploma"]


async def test_a_document_uploaded_at_2358_read_after_the_deadline_tick_completes_the_file() -> (
    None
):
    uow = FakeCandidatureUoW()
    await run(uow, submitted(documents=FULL[:2]))
    assert await run(uow, tick(MIDNIGHT)) == []  # the deadline tick: still within the grace
    assert await run(uow, tick(MIDNIGHT + timedelta(minutes=5))) == []
    at_2358 = datetime(2027, 5, 15, 23, 58, tzinfo=PARIS)
    [completed] = await run(uow, upload_of(FULL[2], uploaded_at=at_2358))
    assert isinstance(completed, out.ApplicationCompleted) and completed.completed_at == at_2358
    assert await run(uow, tick(CLOSING)) == []
    assert uow.applications.stored["A-1"].status is Status.COMPLETE


async def test_a_document_uploaded_after_the_deadline_minute_never_joins_the_file() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, submitted(documents=FULL[:2]))
    [rejected] = await run(uow, upload_of(FULL[2], uploaded_at=MIDNIGHT))
    assert isinstance(rejected, out.DocumentRejected) and rejected.reason == LATE_DOCUMENT
    [refused] = await run(uow, tick(CLOSING))
    assert isinstance(refused, out.ApplicationRefused)
    assert refused.missing_documents == ["diploma"]


async def test_an_on_time_document_read_after_the_closing_is_kept_flagged_not_lost() -> None:
    """The file is not reopened (selection and the candidate acted on its refusal): the
    document is kept with the reason, for staff, and the candidate is told."""
    uow = FakeCandidatureUoW()
    await run(uow, submitted(documents=FULL[:2]))
    await run(uow, tick(CLOSING))
    at_2358 = datetime(2027, 5, 15, 23, 58, tzinfo=PARIS)
    [rejected] = await run(uow, upload_of(FULL[2], uploaded_at=at_2358))
    assert isinstance(rejected, out.DocumentRejected) and rejected.reason == ON_TIME_AFTER_CLOSING
    stored = uow.applications.stored["A-1"]
    assert stored.status is Status.REFUSED
    assert [(d.document.kind, d.problem) for d in stored.documents][-1] == (
        "diploma",
        ON_TIME_AFTER_CLOSING,
    )


async def test_an_on_time_submission_read_within_the_grace_is_closed_only_after_it() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, tick(MIDNIGHT + timedelta(minutes=2)))
    published = await run(uow, submitted(documents=FULL[:2], at=DEADLINE + timedelta(seconds=40)))
    assert [type(p) for p in published] == [out.ApplicationReceived]
    [refused] = await run(uow, tick(CLOSING))
    assert isinstance(refused, out.ApplicationRefused)


async def test_a_vapp_declared_with_a_diploma_uploaded_is_complete() -> None:
    uow = FakeCandidatureUoW()
    event = submitted(documents=FULL[:2])
    assert isinstance(event.data, ApplicationSubmitted)
    await run(uow, new_event(event.data.model_copy(update={"vapp": True}), subject="A-1"))
    assert uow.applications.stored["A-1"].missing_documents() == ["vapp_decision"]
    [completed] = await run(uow, upload_of(FULL[2]))
    assert isinstance(completed, out.ApplicationCompleted)


def complementary(opened: bool, level: str = "M1") -> CloudEvent:
    data = (
        ComplementaryRoundOpened(campaign=2027, level=level, free_places=2)
        if opened
        else ComplementaryRoundClosed(campaign=2027, level=level)
    )
    return new_event(data, subject="2027")


async def test_a_level_takes_complementary_files_between_its_opening_and_its_closing() -> None:
    uow = FakeCandidatureUoW()
    july = datetime(2027, 7, 10, 10, 0, tzinfo=PARIS)
    await run(uow, complementary(opened=True))
    [received, _] = await run(uow, submitted("A-1", at=july, candidate_id="C-1"))
    assert isinstance(received, out.ApplicationReceived) and received.round == "complementary"
    await run(uow, complementary(opened=False))
    [refused] = await run(uow, submitted("A-2", at=july, candidate_id="C-2"))
    assert isinstance(refused, out.ApplicationRefused) and refused.reason == "no_places_left"
    await run(uow, complementary(opened=True))  # places freed again in August
    [received, _] = await run(uow, submitted("A-3", at=july, candidate_id="C-3"))
    assert isinstance(received, out.ApplicationReceived)


async def test_closing_one_level_leaves_the_other_open() -> None:
    uow = FakeCandidatureUoW()
    july = datetime(2027, 7, 10, 10, 0, tzinfo=PARIS)
    await run(uow, complementary(opened=True, level="M1"))
    await run(uow, complementary(opened=True, level="M2"))
    await run(uow, complementary(opened=False, level="M2"))
    [received, _] = await run(uow, submitted("A-1", at=july, candidate_id="C-1"))
    assert isinstance(received, out.ApplicationReceived)
    [refused] = await run(uow, submitted("A-2", at=july, candidate_id="C-2", level="M2"))
    assert isinstance(refused, out.ApplicationRefused) and refused.reason == "no_places_left"


def calendar_changed(**overrides: datetime) -> CloudEvent:
    calendar = default_calendar(2027).with_overrides(overrides)
    phases = [PhaseWindow(phase=p, starts_at=s, ends_at=e) for p, s, e in calendar.phases()]
    return new_event(CalendarChanged(campaign=2027, phases=phases), subject="2027")


async def test_a_calendar_change_moves_the_windows_and_the_deadlines_of_live_files() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, submitted("A-1", documents=FULL[:2]))
    extended = datetime(2027, 5, 22, 23, 59, tzinfo=PARIS)
    [moved] = await run(uow, calendar_changed(main_submissions_close=extended))
    assert moved == out.SubmissionDeadlineMoved(
        application_id="A-1",
        campaign=2027,
        round=Round.MAIN,
        submission_deadline=extended,
        complete=False,
    )
    assert await run(uow, calendar_changed(main_submissions_close=extended)) == []
    assert uow.applications.stored["A-1"].submission_deadline == extended
    [received, _] = await run(
        uow, submitted("A-2", at=datetime(2027, 5, 20, 9, 0, tzinfo=PARIS), candidate_id="C-2")
    )
    assert isinstance(received, out.ApplicationReceived)
    assert received.submission_deadline == extended
    assert await run(uow, tick(CLOSING)) == []
    [refused] = await run(uow, tick(extended + timedelta(minutes=11)))
    assert isinstance(refused, out.ApplicationRefused) and refused.application_id == "A-1"


async def test_only_live_files_of_the_moved_round_are_told_their_new_deadline() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, submitted("A-1"))
    await run(uow, submitted("A-2", documents=FULL[:2], candidate_id="C-2"))
    await run(uow, submitted("A-3", documents=FULL[:2], candidate_id="C-3"))
    await run(uow, new_event(ApplicationWithdrawn(application_id="A-3"), subject="A-3"))
    extended = datetime(2027, 5, 22, 23, 59, tzinfo=PARIS)
    moved = await run(uow, calendar_changed(main_submissions_close=extended))
    assert [
        (m.application_id, m.complete) for m in moved if isinstance(m, out.SubmissionDeadlineMoved)
    ] == [("A-1", True), ("A-2", False)]
    assert len(moved) == 2
    assert await run(uow, calendar_changed(main_submissions_close=extended)) == []
    complementary_extended = datetime(2027, 8, 22, 23, 59, tzinfo=PARIS)
    other_round = calendar_changed(
        main_submissions_close=extended, complementary_submissions_close=complementary_extended
    )
    assert await run(uow, other_round) == []


async def test_the_same_calendar_announced_again_changes_nothing() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, calendar_changed())
    assert uow.applications.announced == {}
    shortened = datetime(2027, 5, 10, 23, 59, tzinfo=PARIS)
    await run(uow, tick(datetime(2027, 5, 12, tzinfo=PARIS)))
    await run(uow, submitted("A-1", documents=FULL[:2], at=datetime(2027, 5, 3, tzinfo=PARIS)))
    [moved, refused] = await run(uow, calendar_changed(main_submissions_close=shortened))
    assert isinstance(moved, out.SubmissionDeadlineMoved) and not moved.complete
    assert isinstance(refused, out.ApplicationRefused)
    assert refused.reason == "incomplete_at_deadline"


async def test_a_french_national_number_is_sent_on_in_e164() -> None:
    uow = FakeCandidatureUoW()
    [received, _] = await run(uow, submitted(phone="06 12 34 56 78"))
    assert isinstance(received, out.ApplicationReceived) and received.candidate is None
    [contact] = contacts(uow)
    assert contact.phone == "+33612345678"
    assert contact.sms_opt_in and not contact.phone_unusable
    assert uow.applications.stored["A-1"].phone_as_given is None


async def test_an_unusable_number_keeps_the_application_without_sms() -> None:
    uow = FakeCandidatureUoW()
    [received, completed] = await run(uow, submitted(phone="06 12 34"))
    assert isinstance(received, out.ApplicationReceived)
    [contact] = contacts(uow)
    assert contact.phone is None and contact.phone_unusable
    assert isinstance(completed, out.ApplicationCompleted)
    assert uow.applications.stored["A-1"].phone_as_given == "06 12 34"


def erasure_requested(application_id: str = "A-1", candidate_id: str = "C-1") -> CloudEvent:
    return new_event(
        ErasureRequested(application_id=application_id, candidate_id=candidate_id),
        subject=application_id,
    )


async def test_an_erasure_request_for_another_candidate_erases_nothing() -> None:
    """An erasure cannot be undone: a request naming someone else is refused (the
    consumer dead-letters it), and the file stays whole."""
    uow = FakeCandidatureUoW()
    await run(uow, submitted())
    with pytest.raises(handlers.ErasureForAnotherCandidate) as refused:
        await run(uow, erasure_requested(candidate_id="C-999"))
    assert "C-999" not in str(refused.value) and "C-1" not in str(refused.value)
    assert uow.applications.stored["A-1"].candidate.candidate_id == "C-1"
    assert uow.tombstones == []


async def test_an_erasure_request_tombstones_the_contact_and_tells_the_other_services() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, submitted())
    published = await run(uow, erasure_requested())
    assert published == [out.ApplicationErased(application_id="A-1", campaign=2027)]
    assert uow.tombstones == [(Topic.CONTACTS, "A-1")]
    assert "A-1" not in uow.applications.stored


async def test_a_repeated_erasure_request_changes_nothing() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, submitted())
    await run(uow, erasure_requested())
    assert await run(uow, erasure_requested()) == []
    assert uow.tombstones == []


async def test_an_erased_application_is_never_taken_in_again() -> None:
    """A replay of the portal topic after an erasure brings nothing back."""
    uow = FakeCandidatureUoW()
    await run(uow, submitted())
    await run(uow, erasure_requested())
    assert await run(uow, submitted()) == []
    assert await run(uow, upload_of(document("cv", 9))) == []
    assert contacts(uow) == []
    assert "A-1" not in uow.applications.stored


async def test_an_erasure_asked_before_the_submission_is_read_keeps_it_out() -> None:
    uow = FakeCandidatureUoW()
    assert await run(uow, erasure_requested()) == [
        out.ApplicationErased(application_id="A-1", campaign=None)
    ]
    assert await run(uow, submitted()) == []


async def test_the_end_of_the_keeping_time_erases_the_campaign_without_announcing_it() -> None:
    uow = FakeCandidatureUoW()
    await run(uow, submitted("A-1"))
    await run(uow, submitted("A-2", candidate_id="C-2"))
    await run(uow, tick(datetime(2028, 8, 31, 23, 59, tzinfo=PARIS)))
    assert set(uow.applications.stored) == {"A-1", "A-2"}
    published = await run(uow, tick(datetime(2028, 9, 1, 0, 0, tzinfo=PARIS)))
    assert not any(isinstance(p, out.ApplicationErased) for p in published)
    assert sorted(uow.tombstones) == [(Topic.CONTACTS, "A-1"), (Topic.CONTACTS, "A-2")]
    assert uow.applications.stored == {}
