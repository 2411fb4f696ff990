"""Handlers on fakes: they call the aggregates' steps and save them; the unit of work
publishes the events the aggregates raised, in their order, keyed by application."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import pytest
from ifuno_selection.config import SelectionSettings
from ifuno_selection.domain.candidate import Candidate, Status, WrongStep
from ifuno_selection.domain.places import LevelPlaces, RoundState, SeatStatus
from ifuno_selection.domain.season import phase_start, with_phases
from ifuno_selection.service_layer import handlers
from ifuno_selection.service_layer.handlers import HANDLERS
from ifuno_shared.calendar import PARIS, CampaignCalendar, default_calendar, late_from
from ifuno_shared.events import (
    CloudEvent,
    EventData,
    Level,
    Phase,
    Round,
    new_event,
    portal,
    selection,
)
from ifuno_shared.events import candidature as c
from ifuno_shared.events.timeline import (
    CalendarChanged,
    ClockAdvanced,
    PhaseStarted,
    PhaseWindow,
)
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


class FakeCalendars:
    """The announced calendar of each campaign (the default one before any)."""

    def __init__(self) -> None:
        self.announced_phases: dict[int, list[PhaseWindow]] = {}
        self.done: set[tuple[int, Phase]] = set()

    async def calendar(self, campaign: int) -> CampaignCalendar:
        return await self.announced(campaign) or default_calendar(campaign)

    async def announced(self, campaign: int) -> CampaignCalendar | None:
        phases = self.announced_phases.get(campaign)
        if phases is None:
            return None
        return with_phases(
            default_calendar(campaign), [(p.phase, p.starts_at, p.ends_at) for p in phases]
        )

    async def announce(self, campaign: int, phases: list[PhaseWindow]) -> None:
        self.announced_phases[campaign] = phases

    async def claim_phase(self, campaign: int, phase: Phase, at: datetime) -> bool:
        claimed = (campaign, phase) not in self.done
        self.done.add((campaign, phase))
        return claimed

    def forget(self, campaign: int) -> None:
        """Nothing kept between calls."""


class FakeCandidates(FakeRepository[str, Candidate]):
    def __init__(self, stored: Iterable[Candidate]) -> None:
        super().__init__(lambda who: who.application_id, stored)
        self.reviews: dict[str, dict[str, dict[str, int]]] = {}
        self.notes: dict[str, dict[str, str | None]] = {}
        self.slots: dict[datetime, tuple[str, tuple[int, bool]]] = {}

    async def get(self, key: str, *, lock: bool = False) -> Candidate | None:
        return await super().get(key)

    async def fresh(self, key: str) -> Candidate | None:
        return await super().get(key)

    async def campaigns_up_to(self, up_to: int) -> list[int]:
        return sorted({who.campaign for who in self.stored.values() if who.campaign <= up_to})

    async def anonymize(self, application_ids: Sequence[str]) -> None:
        for application_id in application_ids:
            who = self.stored.get(application_id)
            if who is not None:
                who.file_score = who.interview_score = who.interview_notes = None
            self.reviews.pop(application_id, None)
            self.notes.pop(application_id, None)
            self.slots = {at: s for at, s in self.slots.items() if s[0] != application_id}

    async def anonymize_campaign(self, campaign: int) -> None:
        await self.anonymize([a for a, who in self.stored.items() if who.campaign == campaign])

    async def for_committee(self, campaign: int, level: Level, round_: Round) -> list[Candidate]:
        return [
            handed
            for who in list(self.stored.values())
            if (who.campaign, who.level, who.round) == (campaign, level, round_)
            and who.status in (Status.IN_REVIEW, Status.SHORTLISTED, Status.INTERVIEWED)
            and (handed := await self.get(who.application_id)) is not None
        ]

    async def add_review(
        self,
        application_id: str,
        reviewer: str,
        scores: dict[str, int],
        at: datetime,
        note: str | None = None,
    ) -> list[dict[str, int]]:
        self.reviews.setdefault(application_id, {})[reviewer] = scores
        self.notes.setdefault(application_id, {})[reviewer] = note
        return list(self.reviews[application_id].values())

    async def taken_slots(self) -> set[datetime]:
        return set(self.slots)

    async def book_slot(self, application_id: str, starts_at: datetime, *rest: object) -> bool:
        notice = rest[-1]
        assert isinstance(notice, tuple)
        return self.slots.setdefault(starts_at, (application_id, notice))[0] == application_id

    async def expiring(self, until: datetime, grace: timedelta) -> list[tuple[int, Level, str]]:
        return [
            (who.campaign, who.level, who.application_id)
            for who in self.stored.values()
            if who.status is Status.OFFERED
            and who.offer_deadline is not None
            and late_from(who.offer_deadline) + grace <= until
        ]


class FakePlaces(FakeRepository[LevelKey, LevelPlaces]):
    """Saving places writes the candidates' statuses and offers, as the real one does."""

    def __init__(
        self,
        stored: Iterable[LevelPlaces],
        candidates: FakeCandidates,
        uow: FakeSelectionUnitOfWork,
    ) -> None:
        super().__init__(lambda places: (places.campaign, places.level), stored)
        self.candidates = candidates
        self.uow = uow

    async def level(self, campaign: int, level: Level) -> LevelPlaces:
        if (campaign, level) not in self.stored:
            self.stored[(campaign, level)] = LevelPlaces(campaign, level, 2)
        self.stored[(campaign, level)].season = await self.uow.season(campaign)
        found = await self.get((campaign, level))
        assert found is not None
        return found

    async def prefetch(self, keys: Iterable[LevelKey]) -> None:
        """Nothing to read ahead."""

    async def refresh(self, campaign: int) -> None:
        """Each `level` reads the season again."""

    async def save(self, aggregate: LevelPlaces) -> None:
        stored = self.candidates.stored
        for application_id, status in aggregate.left.items():
            stored[application_id].status = Status(status)
        for seat in aggregate.seats.values():
            stored[seat.application_id].status = Status(seat.status.value)
            stored[seat.application_id].offer_deadline = seat.offer_deadline
        for application_id in aggregate.waitlist:
            stored[application_id].status = Status.WAITLISTED
        aggregate.left.clear()
        await super().save(aggregate)


class FakeSelectionUnitOfWork(FakeUnitOfWork):
    def __init__(
        self, candidates: Iterable[Candidate] = (), places: Iterable[LevelPlaces] = ()
    ) -> None:
        super().__init__(now=NOW, campaign=2027)
        self.settings = SETTINGS
        self.calendars = FakeCalendars()
        self.candidates = FakeCandidates(candidates)
        self.places = FakePlaces(places, self.candidates, self)
        self.repositories = [self.candidates, self.places]

    async def season(self, campaign: int):  # type: ignore[no-untyped-def]
        return SETTINGS.season(await self.calendars.calendar(campaign))


def candidate(application_id: str, status: Status, **fields: object) -> Candidate:
    who = Candidate.received(application_id, 2027, Level.M1, Round.MAIN, eligible=True)
    who.status = status
    for name, value in fields.items():
        setattr(who, name, value)
    return who


def full_level(offered: int = 2, waitlisted: int = 3) -> tuple[list[Candidate], LevelPlaces]:
    """A level of two places, both offered, and its waitlist."""
    places = LevelPlaces(2027, Level.M1, 2, season=SETTINGS.season(default_calendar(2027)))
    for n in range(offered):
        places.offer(f"O{n}", NOW)
    places.add_to_waitlist([f"W{n}" for n in range(waitlisted)], NOW)
    places.events.clear()
    files = [
        candidate(f"O{n}", Status.OFFERED, offer_deadline=places.seats[f"O{n}"].offer_deadline)
        for n in range(offered)
    ]
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
    not_interviewed = candidate("H", Status.SHORTLISTED, file_score=15.0)
    uow = FakeSelectionUnitOfWork([*interviewed, ineligible, unreviewed, not_interviewed])
    calendar = dict((p, (s, e)) for p, s, e in default_calendar(2027).phases())
    starts, ends = calendar[Phase.MAIN_COMMITTEE]
    published = await apply(
        uow, PhaseStarted(campaign=2027, phase=Phase.MAIN_COMMITTEE, starts_at=starts, ends_at=ends)
    )
    assert published == [
        ("F", "refused"),  # ineligible
        ("G", "refused"),  # never reviewed
        ("H", "refused"),  # never interviewed
        ("E", "refused"),  # 10/40: below the waitlist threshold
        ("A", "admitted"),
        ("B", "admitted"),
        ("C", "waitlisted"),
        ("D", "waitlisted"),
    ]
    statuses = {k: (w.status.value, w.refusal_reason) for k, w in uow.candidates.stored.items()}
    assert statuses["E"] == ("refused", "below_admission_threshold")
    assert statuses["F"] == ("refused", "ineligible")
    assert statuses["G"] == statuses["H"] == ("refused", "not_ranked_in_time")
    places = uow.places.stored[(2027, Level.M1)]
    assert (set(places.seats), places.waitlist) == ({"A", "B"}, ["C", "D"])


async def test_an_interviewed_file_staff_declared_ineligible_is_refused_not_ranked() -> None:
    """Staff's override after the interview stands: the committee refuses the file
    `ineligible` (the candidate is told) and gives its place to the next one."""
    interviewed = [
        candidate(
            name, Status.INTERVIEWED, file_score=score, interview_score=score, completed_at=NOW
        )
        for name, score in [("A", 18.0), ("B", 16.0), ("C", 14.0)]
    ]
    uow = FakeSelectionUnitOfWork(interviewed)
    overridden = c.EligibilityOverridden(
        application_id="A",
        eligibility=c.Eligibility(eligible=False, reasons=["no bac+3"]),
        overridden_by="staff",
    )
    starts, ends = dict((p, (s, e)) for p, s, e in default_calendar(2027).phases())[
        Phase.MAIN_COMMITTEE
    ]
    committee = PhaseStarted(
        campaign=2027, phase=Phase.MAIN_COMMITTEE, starts_at=starts, ends_at=ends
    )
    published = await apply(uow, overridden, committee)
    assert published == [("A", "refused"), ("B", "admitted"), ("C", "admitted")]
    refused = uow.candidates.stored["A"]
    assert (refused.status, refused.refusal_reason) == (Status.REFUSED, "ineligible")
    assert set(uow.places.stored[(2027, Level.M1)].seats) == {"B", "C"}


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
    assert uow.candidates.slots == {scheduled.starts_at: ("A-1", (7, False))}  # type: ignore[attr-defined]


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


async def test_staff_notes_are_kept_with_the_file_and_put_in_no_event() -> None:
    uow = FakeSelectionUnitOfWork([candidate("A-1", Status.IN_REVIEW)])
    uow.clock = type(uow.clock)(datetime(2027, 5, 26, 12, 0, tzinfo=PARIS), 2027)
    await handlers.file_review(uow, "A-1", "r.dupont", GOOD, False, NOW, "Projet solide.")
    who = await handlers.interview_result(uow, "A-1", True, 15.0, "Très motivée.\nÀ l'aise.")
    assert uow.candidates.notes["A-1"] == {"r.dupont": "Projet solide."}
    assert who.interview_notes == "Très motivée.\nÀ l'aise."
    published = " ".join(e.model_dump_json() for e in uow.committed_events)
    assert "interview_recorded" in published
    assert "Projet solide" not in published and "motivée" not in published


async def test_places_changed_and_not_saved_stop_the_commit() -> None:
    files, places = full_level()
    uow = FakeSelectionUnitOfWork(files, [places])
    async with uow:
        level = await uow.places.level(2027, Level.M1)
        level.accept("O0", NOW)
        with pytest.raises(UnsavedChanges):
            await uow.commit()
    assert uow.committed_events == []


def offered_level(
    level: Level, deadline_day: int, waitlisted: int
) -> tuple[list[Candidate], LevelPlaces]:
    """A level of two places offered (deadline `deadline_day` July) and its waitlist."""
    places = LevelPlaces(2027, level, 2, season=SETTINGS.season(default_calendar(2027)))
    decided = datetime(2027, 7, deadline_day, 10, 0, tzinfo=PARIS) - timedelta(days=7)
    prefix = level.value
    for n in range(2):
        places.offer(f"{prefix}-O{n}", decided)
    places.add_to_waitlist([f"{prefix}-W{n}" for n in range(waitlisted)], decided)
    places.events.clear()
    files = []
    for application_id in [*places.seats, *places.waitlist]:
        seat = places.seats.get(application_id)
        who = candidate(application_id, Status.OFFERED if seat else Status.WAITLISTED)
        who.level = level
        who.offer_deadline = seat.offer_deadline if seat else None
        files.append(who)
    return files, places


def tick(now: datetime) -> ClockAdvanced:
    return ClockAdvanced(campaign=2027, now=now)


async def test_the_round_opens_for_the_level_whose_waitlist_runs_out_on_3_july_only() -> None:
    """M1's waitlist ran out in June; its last offer expires on 3 July. M2's offers
    expire that day too, but M2 still has candidates waiting: no round for M2."""
    m1, m1_places = offered_level(Level.M1, 3, waitlisted=0)
    m2, m2_places = offered_level(Level.M2, 3, waitlisted=4)
    uow = FakeSelectionUnitOfWork([*m1, *m2], [m1_places, m2_places])
    calendar = default_calendar(2027)
    start = PhaseStarted(
        campaign=2027,
        phase=Phase.COMPLEMENTARY_SUBMISSIONS_OPEN,
        starts_at=calendar.complementary_submissions_open,
        ends_at=calendar.complementary_submissions_close,
    )
    on_time = datetime(2027, 6, 28, tzinfo=PARIS)
    accept = portal.OfferAnswered(application_id="M1-O0", answer="accept", answered_at=on_time)
    assert await apply(uow, accept, start) == [("M1-O0", "offer_accepted")]  # all held
    uow.committed_events.clear()
    published = await apply(uow, tick(datetime(2027, 7, 4, 0, 10, tzinfo=PARIS)))
    opened = [e.data for e in uow.committed_events if e.type.endswith("round_opened.v1")]
    assert opened == [
        selection.ComplementaryRoundOpened(campaign=2027, level=Level.M1, free_places=1)
    ]
    assert ("M2-W0", "admitted") in published and ("M2-W1", "admitted") in published


async def test_a_withdrawal_in_july_opens_a_closed_round_again() -> None:
    """The round closed when M1's places were held; a place freed on 10 July with no one
    waiting opens it again (the rule is checked at every moment of the window)."""
    files, places = offered_level(Level.M1, 9, waitlisted=0)
    for who in files:
        places.accept(who.application_id, NOW)
        who.status = Status.ACCEPTED
    places.complementary_round = RoundState.CLOSED
    places.events.clear()
    uow = FakeSelectionUnitOfWork(files, [places])
    uow.clock = type(uow.clock)(datetime(2027, 7, 10, 10, 0, tzinfo=PARIS), 2027)
    published = await apply(uow, portal.ApplicationWithdrawn(application_id="M1-O0"))
    assert published == [("M1-O0", "place_released"), ("2027", "complementary_round_opened")]
    opened = uow.committed_events[-1].data
    assert opened == selection.ComplementaryRoundOpened(
        campaign=2027, level=Level.M1, free_places=1
    )


def uow_kinds(uow: FakeSelectionUnitOfWork) -> list[tuple[str, str]]:
    return [(event.subject, event.type.split(".")[2]) for event in uow.committed_events]


async def test_an_acceptance_answered_in_the_deadline_minute_and_read_after_expiry_counts() -> None:
    files, places = offered_level(Level.M1, 2, waitlisted=0)
    uow = FakeSelectionUnitOfWork(files, [places])
    await apply(uow, tick(datetime(2027, 7, 3, 0, 11, tzinfo=PARIS)))
    assert uow.candidates.stored["M1-O0"].status is Status.EXPIRED
    on_time = datetime(2027, 7, 2, 23, 59, 30, tzinfo=PARIS)
    late = datetime(2027, 7, 3, 0, 0, 30, tzinfo=PARIS)
    published = await apply(
        uow,
        portal.OfferAnswered(application_id="M1-O0", answer="accept", answered_at=on_time),
        portal.OfferAnswered(application_id="M1-O1", answer="accept", answered_at=late),
    )
    assert published[-1] == ("M1-O0", "offer_accepted")
    assert "M1-O1" not in [subject for subject, _ in published[-2:]]
    level = uow.places.stored[(2027, Level.M1)]
    assert level.seats["M1-O0"].status is SeatStatus.ACCEPTED and "M1-O1" not in level.seats
    assert "M1-O0" in level.late_answers


async def test_an_on_time_acceptance_whose_place_went_to_the_waitlist_goes_first_on_it() -> None:
    files, places = offered_level(Level.M1, 2, waitlisted=2)
    uow = FakeSelectionUnitOfWork(files, [places])
    await apply(uow, tick(datetime(2027, 7, 3, 0, 11, tzinfo=PARIS)))  # W0, W1 promoted
    answered = datetime(2027, 7, 2, 23, 59, 30, tzinfo=PARIS)
    uow.committed_events.clear()
    await apply(
        uow, portal.OfferAnswered(application_id="M1-O0", answer="accept", answered_at=answered)
    )
    waitlisted = uow.committed_events[0].data
    assert waitlisted == e_waitlisted("M1-O0", rank=1)
    assert uow.places.stored[(2027, Level.M1)].waitlist == ["M1-O0"]


def e_waitlisted(application_id: str, rank: int) -> EventData:
    return selection.Waitlisted(
        application_id=application_id, level=Level.M1, rank=rank, campaign=2027, late_answer=True
    )


def due_on(deadline: datetime) -> tuple[list[Candidate], LevelPlaces]:
    """Two places offered with this deadline, W0 waiting, on the default calendar."""
    places = LevelPlaces(2027, Level.M1, 2, season=SETTINGS.season(default_calendar(2027)))
    decided = deadline - timedelta(days=7)
    for n in range(2):
        places.offer(f"O{n}", decided)
    places.add_to_waitlist(["W0"], decided)
    places.events.clear()
    files = [
        candidate(f"O{n}", Status.OFFERED, offer_deadline=places.seats[f"O{n}"].offer_deadline)
        for n in range(2)
    ]
    return [*files, candidate("W0", Status.WAITLISTED)], places


def announced() -> CalendarChanged:
    return CalendarChanged(
        campaign=2027,
        phases=[
            PhaseWindow(phase=p, starts_at=s, ends_at=e)
            for p, s, e in default_calendar(2027).phases()
        ],
    )


async def run_season(
    deadline: datetime, since: datetime, *moves: Sequence[EventData]
) -> FakeSelectionUnitOfWork:
    files, places = due_on(deadline)
    uow = FakeSelectionUnitOfWork(files, [places])
    uow.clock = type(uow.clock)(since, 2027)
    await apply(uow, announced())
    for move in moves:
        await apply(uow, *move)
    return uow


async def test_a_jump_of_the_clock_does_the_deadline_work_in_time_order_like_a_real_clock() -> None:
    """Offers due Fri 3 Sep 23:59 expire on Sat 4 Sep 00:10: W0 is offered the place (its
    deadline capped at Sun 5 Sep 23:59) before the waitlist closes on Mon 6 Sep 09:00,
    whether the clock ticks through or jumps there (the timeline announces the phase
    before the tick of the same move)."""
    year = phase_start(default_calendar(2027), Phase.ACADEMIC_YEAR_START)
    start = PhaseStarted(
        campaign=2027, phase=Phase.ACADEMIC_YEAR_START, starts_at=year, ends_at=year
    )
    deadline = datetime(2027, 9, 3, 23, 59, tzinfo=PARIS)
    since = datetime(2027, 9, 3, 12, 0, tzinfo=PARIS)
    real = await run_season(
        deadline,
        since,
        [tick(datetime(2027, 9, 4, 0, 11, tzinfo=PARIS))],
        [tick(datetime(2027, 9, 6, 0, 11, tzinfo=PARIS))],
        [start, tick(year + timedelta(minutes=5))],
    )
    jump = await run_season(deadline, since, [start, tick(year + timedelta(minutes=5))])
    expected = [
        ("O0", "offer_expired"),
        ("O1", "offer_expired"),
        ("W0", "admitted"),
        ("W0", "offer_expired"),
    ]
    assert uow_kinds(real) == expected
    assert uow_kinds(jump) == expected
    admitted = [e.data for e in jump.committed_events if e.type.endswith("admitted.v1")]
    assert admitted[0].offer_deadline == datetime(2027, 9, 5, 23, 59, tzinfo=PARIS)  # type: ignore[attr-defined]


async def test_a_jump_over_an_expiry_dates_the_promotion_at_the_expiry() -> None:
    """Offers due Fri 2 Jul 23:59 expire Sat 3 Jul 00:10: W0's offer runs to 10 Jul
    23:59 (and expires in the same jump), not 7 days after where the clock landed."""
    deadline = datetime(2027, 7, 2, 23, 59, tzinfo=PARIS)
    since = datetime(2027, 7, 2, 12, 0, tzinfo=PARIS)
    jump = await run_season(deadline, since, [tick(datetime(2027, 7, 20, 12, 0, tzinfo=PARIS))])
    admitted = [e.data for e in jump.committed_events if e.type.endswith("admitted.v1")]
    assert [(a.application_id, a.offer_deadline) for a in admitted] == [  # type: ignore[attr-defined]
        ("W0", datetime(2027, 7, 10, 23, 59, tzinfo=PARIS))
    ]
    assert ("W0", "offer_expired") in uow_kinds(jump)
    assert jump.candidates.stored["W0"].status is Status.EXPIRED


async def test_the_waitlist_closes_when_the_academic_year_starts() -> None:
    files, places = full_level()
    uow = FakeSelectionUnitOfWork(files, [places])
    year = default_calendar(2027).phases()[-1]
    published = await apply(
        uow, PhaseStarted(campaign=2027, phase=year[0], starts_at=year[1], ends_at=year[2])
    )
    assert published == [(f"W{n}", "waitlist_closed") for n in range(3)]
    assert {uow.candidates.stored[f"W{n}"].status for n in range(3)} == {Status.WAITLIST_CLOSED}
    uow.committed_events.clear()
    assert (
        await apply(
            uow, PhaseStarted(campaign=2027, phase=year[0], starts_at=year[1], ends_at=year[2])
        )
        == []
    )


async def test_a_calendar_override_moves_the_committee() -> None:
    interviewed = [
        candidate(n, Status.INTERVIEWED, file_score=16.0, interview_score=16.0, completed_at=NOW)
        for n in ("A", "B")
    ]
    uow = FakeSelectionUnitOfWork(interviewed)
    moved = datetime(2027, 6, 30, 10, 0, tzinfo=PARIS)
    phases = [
        PhaseWindow(phase=p, starts_at=moved if p is Phase.MAIN_COMMITTEE else s, ends_at=e)
        for p, s, e in default_calendar(2027).phases()
    ]
    uow.clock = type(uow.clock)(datetime(2027, 6, 20, tzinfo=PARIS), 2027)
    await apply(uow, CalendarChanged(campaign=2027, phases=phases))
    default_start = phase_start(default_calendar(2027), Phase.MAIN_COMMITTEE)
    stale = PhaseStarted(
        campaign=2027, phase=Phase.MAIN_COMMITTEE, starts_at=default_start, ends_at=moved
    )
    assert await apply(uow, stale, tick(default_start + timedelta(hours=1))) == []
    published = await apply(uow, tick(moved + timedelta(minutes=5)))
    assert published == [("A", "admitted"), ("B", "admitted")]
    admitted = uow.committed_events[0].data
    assert admitted.offer_deadline == datetime(2027, 7, 7, 23, 59, tzinfo=PARIS)  # type: ignore[attr-defined]


async def test_an_invitation_without_a_week_of_notice_says_so() -> None:
    uow = FakeSelectionUnitOfWork([candidate("A-1", Status.IN_REVIEW)])
    uow.clock = type(uow.clock)(datetime(2027, 6, 10, 12, 0, tzinfo=PARIS), 2027)
    await handlers.file_review(uow, "A-1", "r.dupont", GOOD, False, NOW)
    scheduled = uow.committed_events[1].data
    assert scheduled.starts_at == datetime(2027, 6, 10, 12, 30, tzinfo=PARIS)  # type: ignore[attr-defined]
    assert (scheduled.notice_days, scheduled.short_notice) == (0, True)  # type: ignore[attr-defined]


async def test_a_two_year_plan_is_recorded_for_an_accepted_m2_candidate_only() -> None:
    m2, m2_places = offered_level(Level.M2, 9, waitlisted=0)
    uow = FakeSelectionUnitOfWork(m2, [m2_places])
    await apply(uow, portal.OfferAnswered(application_id="M2-O0", answer="accept"))
    published = await apply(
        uow,
        portal.TwoYearPlanRequested(application_id="M2-O0"),
        portal.TwoYearPlanRequested(application_id="M2-O0"),
        portal.TwoYearPlanRequested(application_id="M2-O1"),  # offered, not accepted
        portal.TwoYearPlanRequested(application_id="nobody"),
    )
    assert published[-1] == ("M2-O0", "two_year_plan_recorded")
    assert [kind for _, kind in published].count("two_year_plan_recorded") == 1
    level = uow.places.stored[(2027, Level.M2)]
    assert level.seats["M2-O0"].two_year_plan and level.free_places == 0


async def test_an_erased_candidate_holding_an_offer_frees_it_for_the_waitlist() -> None:
    files, places = full_level()
    scored = candidate("R-1", Status.IN_REVIEW, file_score=12.0, interview_notes="Motivée.")
    uow = FakeSelectionUnitOfWork([*files, scored], [places])
    uow.candidates.reviews["R-1"] = {"staff": {"cv": 3}}
    uow.candidates.notes["R-1"] = {"staff": "Solide."}
    published = await apply(
        uow,
        c.ApplicationErased(application_id="O0", campaign=2027),
        c.ApplicationErased(application_id="R-1", campaign=2027),
    )
    assert ("O0", "erasure_confirmed") in published and ("R-1", "erasure_confirmed") in published
    assert ("O0", "place_released") in published
    assert ("W0", "admitted") in published  # promoted into the freed place
    level = uow.places.stored[(2027, Level.M1)]
    assert "O0" not in level.seats and "W0" in level.seats
    assert uow.candidates.stored["R-1"].status is Status.WITHDRAWN
    assert uow.candidates.stored["R-1"].file_score is None
    assert uow.candidates.stored["R-1"].interview_notes is None
    assert "R-1" not in uow.candidates.reviews and "R-1" not in uow.candidates.notes
