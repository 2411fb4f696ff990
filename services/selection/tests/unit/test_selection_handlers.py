"""Handlers on fakes: they call the aggregates' steps and save them; the unit of work
publishes the events the aggregates raised, in their order, keyed by application."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import pytest
from ifuno_selection.config import SelectionSettings
from ifuno_selection.domain.candidate import Candidate, Status, WrongStep
from ifuno_selection.domain.places import LevelPlaces
from ifuno_selection.service_layer import handlers
from ifuno_selection.service_layer.handlers import HANDLERS
from ifuno_shared.calendar import PARIS, default_calendar
from ifuno_shared.events import CloudEvent, EventData, Level, Phase, Round, new_event, portal
from ifuno_shared.events import candidature as c
from ifuno_shared.events.timeline import ClockAdvanced, PhaseStarted
from ifuno_shared.persistence.repository import UnsavedChanges
from ifuno_tools.testing.fakes import FakeRepository, FakeUnitOfWork

pytestmark = pytest.mark.unit

NOW = datetime(2027, 6, 25, 14, 0, tzinfo=PARIS)
LATER = datetime(2027, 6, 28, 10, 0, tzinfo=PARIS)
SETTINGS = SelectionSettings(
    database_url="postgresql+asyncpg://unused/unused", kafka_bootstrap="unused:9092"
)
GOOD = {"training_involvement": 4, "digital_practice": 4, "project": 4, "study_capacity": 4}
LevelKey = tuple[int, Level]


class FakeCandidates(FakeRepository[str, Candidate]):
    def __init__(self, stored: Iterable[Candidate]) -> None:
        super().__init__(lambda who: who.application_id, stored)
        self.reviews: dict[str, dict[str, dict[str, int]]] = {}
        self.slots: dict[datetime, str] = {}

    async def get(self, key: str, *, lock: bool = False) -> Candidate | None:
        return await super().get(key)

    async def for_committee(self, campaign: int, level: Level, round_: Round) -> list[Candidate]:
        return [
            handed
            for who in list(self.stored.values())
            if (who.campaign, who.level, who.round) == (campaign, level, round_)
            and who.status in (Status.IN_REVIEW, Status.INTERVIEWED)
            and (handed := await self.get(who.application_id)) is not None
        ]

    async def add_review(
        self, application_id: str, reviewer: str, scores: dict[str, int], at: datetime
    ) -> list[dict[str, int]]:
        self.reviews.setdefault(application_id, {})[reviewer] = scores
        return list(self.reviews[application_id].values())

    async def taken_slots(self) -> set[datetime]:
        return set(self.slots)

    async def book_slot(self, application_id: str, starts_at: datetime, *_: object) -> bool:
        return self.slots.setdefault(starts_at, application_id) == application_id

    async def expiring(self, until: datetime) -> list[tuple[int, Level, str]]:
        raise NotImplementedError


class FakePlaces(FakeRepository[LevelKey, LevelPlaces]):
    def __init__(self, stored: Iterable[LevelPlaces]) -> None:
        super().__init__(lambda places: (places.campaign, places.level), stored)

    async def level(self, campaign: int, level: Level) -> LevelPlaces:
        self.stored.setdefault((campaign, level), LevelPlaces(campaign, level, 2))
        found = await self.get((campaign, level))
        assert found is not None
        return found


class FakeSelectionUnitOfWork(FakeUnitOfWork):
    def __init__(
        self, candidates: Iterable[Candidate] = (), places: Iterable[LevelPlaces] = ()
    ) -> None:
        super().__init__(now=NOW, campaign=2027)
        self.settings = SETTINGS
        self.candidates = FakeCandidates(candidates)
        self.places = FakePlaces(places)
        self.repositories = [self.candidates, self.places]


def candidate(application_id: str, status: Status, **fields: object) -> Candidate:
    who = Candidate.received(application_id, 2027, Level.M1, Round.MAIN, eligible=True)
    who.status = status
    for name, value in fields.items():
        setattr(who, name, value)
    return who


def full_level(offered: int = 2, waitlisted: int = 3) -> tuple[list[Candidate], LevelPlaces]:
    """A level of two places, both offered, and its waitlist."""
    places = LevelPlaces(2027, Level.M1, 2)
    for n in range(offered):
        places.offer(f"O{n}", NOW)
    places.add_to_waitlist([f"W{n}" for n in range(waitlisted)])
    places.events.clear()
    files = [candidate(f"O{n}", Status.OFFERED) for n in range(offered)]
    files += [candidate(f"W{n}", Status.WAITLISTED) for n in range(waitlisted)]
    return files, places


async def apply(uow: FakeSelectionUnitOfWork, *data: EventData) -> list[tuple[str, str]]:
    """As the consumer applies a batch: one unit of work, one commit."""
    async with uow:
        for one in data:
            event: CloudEvent = new_event(one, subject=one.subject, time=NOW)
            await HANDLERS[type(one)](event, uow)
        await uow.commit()
    return [(event.subject, event.type.split(".")[2]) for event in uow.committed_events]


def received(application_id: str) -> c.ApplicationReceived:
    return c.ApplicationReceived(
        application_id=application_id,
        campaign=2027,
        round="main",
        level="M1",
        regime="formation_continue",
        missing_documents=[],
        eligibility=c.Eligibility(eligible=True),
    )


async def test_a_file_received_and_completed_in_one_batch_is_in_review() -> None:
    uow = FakeSelectionUnitOfWork()
    published = await apply(
        uow,
        received("A-1"),
        c.ApplicationCompleted(application_id="A-1"),
        c.ApplicationCompleted(application_id="A-1", completed_at=LATER),
    )
    who = uow.candidates.stored["A-1"]
    assert (who.status, who.completed_at) == (Status.IN_REVIEW, NOW)  # the event's time
    assert published == []


async def test_a_decline_promotes_the_first_waitlisted_and_tells_the_others() -> None:
    files, places = full_level()
    uow = FakeSelectionUnitOfWork(files, [places])
    published = await apply(uow, portal.OfferAnswered(application_id="O0", answer="decline"))
    assert published == [
        ("O0", "offer_declined"),
        ("W0", "admitted"),
        ("W1", "waitlist_rank_changed"),
        ("W2", "waitlist_rank_changed"),
    ]
    assert set(uow.places.stored[(2027, Level.M1)].seats) == {"O1", "W0"}


async def test_two_answers_in_one_batch_each_publish_their_own_events_once() -> None:
    files, places = full_level()
    uow = FakeSelectionUnitOfWork(files, [places])
    published = await apply(
        uow,
        portal.OfferAnswered(application_id="O1", answer="accept"),
        portal.OfferAnswered(application_id="O0", answer="decline"),
    )
    assert published == [
        ("O1", "offer_accepted"),
        ("O0", "offer_declined"),
        ("W0", "admitted"),
        ("W1", "waitlist_rank_changed"),
        ("W2", "waitlist_rank_changed"),
    ]


async def test_an_answer_without_a_pending_offer_changes_nothing() -> None:
    files, places = full_level()
    uow = FakeSelectionUnitOfWork(files, [places])
    assert await apply(uow, portal.OfferAnswered(application_id="W1", answer="accept")) == []
    assert uow.places.stored[(2027, Level.M1)] == places


async def test_a_withdrawal_frees_a_waitlist_place_or_ends_the_file() -> None:
    files, places = full_level()
    uow = FakeSelectionUnitOfWork([*files, candidate("R-1", Status.IN_REVIEW)], [places])
    published = await apply(
        uow,
        portal.ApplicationWithdrawn(application_id="W0"),
        c.ApplicationWithdrawn(application_id="R-1"),
    )
    assert published == [("W1", "waitlist_rank_changed"), ("W2", "waitlist_rank_changed")]
    assert uow.places.stored[(2027, Level.M1)].waitlist == ["W1", "W2"]
    assert uow.candidates.stored["R-1"].status is Status.WITHDRAWN


async def test_the_committee_refuses_admits_and_waitlists_in_rank_order() -> None:
    interviewed = [
        candidate(
            name, Status.INTERVIEWED, file_score=score, interview_score=score, completed_at=NOW
        )
        for name, score in [("A", 18.0), ("B", 16.0), ("C", 14.0), ("D", 11.0), ("E", 5.0)]
    ]
    ineligible = candidate("F", Status.IN_REVIEW, eligible=False)
    unreviewed = candidate("G", Status.IN_REVIEW)
    uow = FakeSelectionUnitOfWork([*interviewed, ineligible, unreviewed])
    calendar = dict((p, (s, e)) for p, s, e in default_calendar(2027).phases())
    starts, ends = calendar[Phase.MAIN_COMMITTEE]
    published = await apply(
        uow, PhaseStarted(campaign=2027, phase=Phase.MAIN_COMMITTEE, starts_at=starts, ends_at=ends)
    )
    assert published == [
        ("F", "refused"),  # ineligible
        ("E", "refused"),  # 10/40: below the waitlist threshold
        ("A", "admitted"),
        ("B", "admitted"),
        ("C", "waitlisted"),
        ("D", "waitlisted"),
    ]
    statuses = {k: (w.status.value, w.refusal_reason) for k, w in uow.candidates.stored.items()}
    assert statuses["E"] == ("refused", "below_admission_threshold")
    assert statuses["F"] == ("refused", "ineligible")
    assert statuses["G"] == ("in_review", None)
    places = uow.places.stored[(2027, Level.M1)]
    assert (set(places.seats), places.waitlist) == ({"A", "B"}, ["C", "D"])


async def test_a_clock_tick_with_nothing_late_changes_nothing() -> None:
    uow = FakeSelectionUnitOfWork()
    assert await apply(uow, ClockAdvanced(campaign=2027, now=NOW)) == []  # not a move


async def test_a_file_review_shortlists_and_books_the_first_slot_a_week_ahead() -> None:
    uow = FakeSelectionUnitOfWork([candidate("A-1", Status.IN_REVIEW)])
    uow.clock = type(uow.clock)(datetime(2027, 5, 26, 12, 0, tzinfo=PARIS), 2027)
    who = await handlers.file_review(uow, "A-1", "r.dupont", GOOD, False, NOW)
    assert who.status is Status.SHORTLISTED
    scheduled = uow.committed_events[1].data
    assert [e.type.split(".")[2] for e in uow.committed_events] == [
        "shortlisted",
        "interview_scheduled",
    ]
    assert scheduled.starts_at == datetime(2027, 6, 2, 12, 0, tzinfo=PARIS)  # type: ignore[attr-defined]
    assert uow.candidates.slots == {scheduled.starts_at: "A-1"}  # type: ignore[attr-defined]


async def test_a_staff_step_at_the_wrong_time_commits_nothing() -> None:
    uow = FakeSelectionUnitOfWork([candidate("A-1", Status.IN_REVIEW)])
    with pytest.raises(WrongStep):
        await handlers.interview_result(uow, "A-1", attended=True, score=12.0)
    assert (uow.commits, uow.committed_events) == (0, [])


async def test_an_absence_is_recorded_then_refused() -> None:
    uow = FakeSelectionUnitOfWork([candidate("A-1", Status.SHORTLISTED, file_score=14.0)])
    who = await handlers.interview_result(uow, "A-1", attended=False, score=None)
    assert who.status is Status.REFUSED
    assert [(e.subject, e.type.split(".")[2]) for e in uow.committed_events] == [
        ("A-1", "interview_recorded"),
        ("A-1", "refused"),
    ]


async def test_places_changed_and_not_saved_stop_the_commit() -> None:
    files, places = full_level()
    uow = FakeSelectionUnitOfWork(files, [places])
    async with uow:
        level = await uow.places.level(2027, Level.M1)
        level.accept("O0")
        with pytest.raises(UnsavedChanges):
            await uow.commit()
    assert uow.committed_events == []
