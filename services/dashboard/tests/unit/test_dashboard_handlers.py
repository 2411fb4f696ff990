"""The handlers on an in-memory read model: views saved, places points, message counts,
and the clock of the unit of work."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import permutations
from typing import Any

import pytest
from ifuno_dashboard.domain.history import current_state
from ifuno_dashboard.domain.projection import (
    ApplicationEvent,
    ApplicationView,
    next_deadline,
    phases_in_force,
    summarise,
)
from ifuno_dashboard.service_layer.handlers import (
    HANDLERS,
    handle_application_event,
    handle_clock,
    handle_notification,
    handle_phase,
)
from ifuno_dashboard.service_layer.unit_of_work import DashboardUnitOfWork
from ifuno_shared.calendar import PARIS, default_calendar
from ifuno_shared.events import CloudEvent, EventData, Level, Phase, new_event
from ifuno_shared.events import candidature as c
from ifuno_shared.events import notification as n
from ifuno_shared.events import selection as s
from ifuno_shared.events.timeline import CalendarChanged, ClockAdvanced, PhaseStarted, PhaseWindow
from ifuno_tools.testing.fakes import FakeUnitOfWork

pytestmark = pytest.mark.unit

NOW = datetime(2027, 6, 26, 14, 0, tzinfo=PARIS)
DEADLINE = datetime(2027, 7, 2, 23, 59, tzinfo=PARIS)
SENT_AT = datetime(2027, 6, 26, 10, 0, tzinfo=UTC)


class FakeReadModel:
    """The views in a dict; places counted from them, as the database would, and
    selection's counts of places by level."""

    def __init__(self, stored: Iterable[ApplicationView]) -> None:
        self.views = {view.application_id: view for view in stored}
        self.saves = 0
        self.points: list[tuple[int, Level, datetime, int]] = []
        self.messages: Counter[tuple[str, str, str]] = Counter()
        self.log: list[dict[str, Any]] = []
        self.calendars: dict[int, dict[Phase, datetime]] = {}
        self.counts: dict[tuple[int, Level], tuple[int, int]] = {}

    async def get(self, application_id: str) -> ApplicationView:
        return self.views.get(application_id) or ApplicationView(application_id)

    async def save(self, view: ApplicationView) -> None:
        self.saves += 1
        self.views[view.application_id] = view

    async def held(self, campaign: int, level: Level) -> int:
        return sum(
            v.holding is not None and v.campaign == campaign and v.level == level
            for v in self.views.values()
        )

    def add_point(self, campaign: int, level: Level, at: datetime, held: int) -> None:
        self.points.append((campaign, level, at, held))

    async def counted(
        self, campaign: int, level: Level, *, lock: bool = True
    ) -> tuple[int, int] | None:
        return self.counts.get((campaign, level))

    def count_places(self, campaign: int, level: Level, count: tuple[int, int]) -> None:
        self.counts[campaign, level] = count

    def count_message(self, channel: str, template: str, outcome: str) -> None:
        self.messages[channel, template, outcome] += 1

    def log_event(self, entry: dict[str, Any]) -> None:
        self.log.append(entry)

    async def announce_calendar(
        self, campaign: int, phases: list[tuple[Phase, datetime, datetime]]
    ) -> None:
        self.calendars[campaign] = {phase: starts_at for phase, starts_at, _ in phases}


class FakeDashboardUnitOfWork(FakeUnitOfWork, DashboardUnitOfWork):
    def __init__(self, now: datetime | None = NOW, stored: Iterable[ApplicationView] = ()) -> None:
        super().__init__(now)
        self.views = FakeReadModel(stored)


def ev(data: EventData) -> CloudEvent[Any]:
    return new_event(data, subject=data.subject, time=SENT_AT)


def received(a: str) -> c.ApplicationReceived:
    return c.ApplicationReceived(
        application_id=a,
        campaign=2027,
        round="main",
        level="M1",
        regime="alternance",
        missing_documents=[],
        eligibility=c.Eligibility(eligible=True),
    )


def admitted(a: str, campaign: int | None = 2027) -> s.Admitted:
    return s.Admitted(
        application_id=a,
        level="M1",
        offer_deadline=DEADLINE,
        from_waitlist=False,
        campaign=campaign,
    )


OFFERED = ApplicationView("B", campaign=2027, level=Level.M1, received=True, holding="offered")


async def handle(uow: FakeDashboardUnitOfWork, *events: EventData) -> None:
    async with uow:
        for data in events:
            await HANDLERS[type(data)](ev(data), uow)
        await uow.commit()


def test_every_application_event_moves_a_view_and_the_others_their_own_handler() -> None:
    assert {t for t, h in HANDLERS.items() if h is handle_application_event} == set(
        ApplicationEvent.__args__
    )
    assert HANDLERS[n.NotificationSent] is HANDLERS[n.NotificationFailed] is handle_notification
    assert HANDLERS[PhaseStarted] is handle_phase and HANDLERS[ClockAdvanced] is handle_clock


async def test_an_admission_saves_the_view_and_a_point_of_the_places_held_now() -> None:
    uow = FakeDashboardUnitOfWork(stored=[OFFERED, ApplicationView("A")])
    await handle(uow, received("A"), admitted("A"))
    assert uow.views.views["A"].holding == "offered"
    assert uow.views.points == [(2027, Level.M1, NOW, 2)]
    assert uow.committed_events == [], "a read model publishes nothing"


async def test_a_point_is_dated_by_the_event_before_the_first_clock_move() -> None:
    uow = FakeDashboardUnitOfWork(now=None)
    await handle(uow, received("A"), admitted("A"))
    assert uow.views.points == [(2027, Level.M1, SENT_AT, 1)]


async def test_a_place_given_up_is_a_point_too() -> None:
    uow = FakeDashboardUnitOfWork(stored=[OFFERED])
    await handle(uow, s.OfferDeclined(application_id="B"))
    assert uow.views.views["B"].declined and uow.views.views["B"].holding is None
    assert uow.views.points == [(2027, Level.M1, NOW, 0)]


async def test_an_offer_read_before_the_application_counts_once_its_campaign_is_known() -> None:
    uow = FakeDashboardUnitOfWork()
    await handle(uow, admitted("A", campaign=None))
    assert uow.views.views["A"].holding == "offered" and uow.views.points == []
    await handle(uow, received("A"))
    assert uow.views.points == [(2027, Level.M1, NOW, 1)]


async def test_an_event_that_changes_nothing_saves_nothing() -> None:
    uow = FakeDashboardUnitOfWork(stored=[OFFERED])
    await handle(uow, received("B"), admitted("B"), admitted("B"))
    assert uow.views.saves == 1 and uow.views.points == []
    assert uow.views.views["B"].admitted


async def test_messages_are_counted_by_channel_template_and_outcome() -> None:
    uow = FakeDashboardUnitOfWork()
    sent = n.NotificationSent(
        application_id="A", channel="email", template="admitted", cause_event_id="x"
    )
    failed = n.NotificationFailed(
        application_id="A", channel="sms", template="admitted", cause_event_id="x", error="550"
    )
    await handle(uow, sent, sent, failed)
    assert uow.views.messages == {
        ("email", "admitted", "sent"): 2,
        ("sms", "admitted", "failed"): 1,
    }
    assert uow.views.views == {}, "a notification reads no view"


async def test_timeline_events_move_the_units_clock() -> None:
    uow = FakeDashboardUnitOfWork(now=None)
    _, starts_at, ends_at = next(
        p for p in default_calendar(2027).phases() if p[0] is Phase.MAIN_COMMITTEE
    )
    phase = PhaseStarted(
        campaign=2027, phase=Phase.MAIN_COMMITTEE, starts_at=starts_at, ends_at=ends_at
    )
    await handle(uow, phase, ClockAdvanced(campaign=2027, now=NOW))
    assert await uow.clock.now() == NOW
    assert await uow.clock.current_phase(2027) is Phase.MAIN_COMMITTEE


async def test_every_step_of_a_file_is_logged_without_anything_personal() -> None:
    """The history keeps ids, types, times and codes: never a name, address or score."""
    contact = c.Contact(
        candidate_id="C1",
        first_name="Zéphyrine",
        last_name="Quelmarque",
        email="zq@example.org",
        phone="+33612345678",
    )
    uow = FakeDashboardUnitOfWork()
    await handle(
        uow,
        received("H").model_copy(update={"candidate": contact}),
        c.EligibilityOverridden(
            application_id="H",
            eligibility=c.Eligibility(eligible=True),
            overridden_by="a.martin",
            note="vu avec Mme Quelmarque",
        ),
        c.SubmissionDeadlineMoved(
            application_id="H",
            campaign=2027,
            round="main",
            submission_deadline=DEADLINE,
            complete=True,
        ),
        s.Shortlisted(application_id="H", level="M1", file_score=15.5),
        s.InterviewScheduled(
            application_id="H", starts_at=DEADLINE, ends_at=DEADLINE, location="Le Mans"
        ),
        s.InterviewRecorded(application_id="H", attended=True, score=17.25),
        n.NotificationSent(
            application_id="H", channel="sms", template="admitted", cause_event_id="x"
        ),
    )
    log = uow.views.log
    assert [entry["type"].split(".")[2] for entry in log] == [
        "application_received",
        "eligibility_overridden",
        "submission_deadline_moved",
        "shortlisted",
        "interview_scheduled",
        "interview_recorded",
        "sent",
    ]
    assert {entry["application_id"] for entry in log} == {"H"}
    assert log[0]["details"]["regime"] == "alternance"
    assert log[-1]["details"]["channel"] == "sms"
    assert log[-1]["details"]["season_at"] == NOW.isoformat()
    text = repr(log)
    for personal in (
        "Zéphyrine",
        "Quelmarque",
        "zq@example.org",
        "612345678",
        "a.martin",
        "15.5",
        "17.25",
    ):
        assert personal not in text


async def test_the_waitlist_closed_at_the_academic_year_start_leaves_no_one_on_it() -> None:
    """Closed in the view (and in the history), even if a rank read later came first."""
    waitlisted = s.Waitlisted(application_id="W", level="M1", rank=1, campaign=2027)
    closed = s.WaitlistClosed(application_id="W", level="M1", campaign=2027)
    for order in ([waitlisted, closed], [closed, waitlisted]):
        uow = FakeDashboardUnitOfWork()
        await handle(uow, received("W"), *order)
        level = summarise(list(uow.views.views.values()), {Level.M1: 20})[Level.M1]
        assert level.waitlist == [] and level.funnel["waitlisted"] == 0
        assert "close" in current_state(uow.views.views["W"])
        assert "ifuno.selection.waitlist_closed.v1" in [entry["type"] for entry in uow.views.log]


async def test_the_next_deadline_follows_the_calendar_the_timeline_announced() -> None:
    """An override moves the main round's close to 20 May: on 16 May, that is next."""
    moved = datetime(2027, 5, 20, 23, 59, tzinfo=PARIS)
    calendar = default_calendar(2027).with_overrides({"main_submissions_close": moved})
    announced = CalendarChanged(
        campaign=2027,
        phases=[PhaseWindow(phase=p, starts_at=a, ends_at=b) for p, a, b in calendar.phases()],
    )
    uow = FakeDashboardUnitOfWork()
    await handle(uow, announced)
    default = default_calendar(2027).phase_starts()
    now = datetime(2027, 5, 16, 10, 0, tzinfo=PARIS)
    in_force = phases_in_force(default, uow.views.calendars[2027])
    assert next_deadline(in_force, now, []) == ("main_submissions_closed", moved)
    assert next_deadline(phases_in_force(default, {}), now, [])[0] == "main_interviews"


# Selection's counts of places: a decline and the promotion it causes are published in
# one transaction but keyed by two applications, so read in either order.

CAPACITY = {Level.M1: 2, Level.M2: 24}
PlaceEvent = s.Admitted | s.OfferDeclined | s.OfferExpired | s.PlaceReleased


def counted(data: PlaceEvent, held: int, change: int) -> PlaceEvent:
    """The event as selection publishes it now: the level's count after it, numbered."""
    update = {"campaign": 2027, "level": Level.M1, "places_held": held, "places_change": change}
    return data.model_copy(update=update)


def promoted(a: str) -> s.Admitted:
    return s.Admitted(
        application_id=a, level="M1", offer_deadline=DEADLINE, from_waitlist=True, campaign=2027
    )


def shown(uow: FakeDashboardUnitOfWork) -> tuple[int, int]:
    """Places held and left of M1 as the summary shows them."""
    counts = {level: held for (_, level), (_, held) in uow.views.counts.items()}
    level = summarise(list(uow.views.views.values()), CAPACITY, counts)[Level.M1]
    return level.held, level.places_left


async def test_a_promotion_read_before_the_decline_freeing_its_place_is_within_capacity() -> None:
    """The auditor's case: two places, A and B offered, C first on the waitlist; A
    declines and C is promoted, read in the other order (two partitions)."""
    uow = FakeDashboardUnitOfWork()
    await handle(
        uow,
        received("A"),
        received("B"),
        received("C"),
        counted(admitted("A"), 1, 1),
        counted(admitted("B"), 2, 2),
        s.Waitlisted(application_id="C", level="M1", rank=1, campaign=2027),
    )
    uow.views.points.clear()
    await handle(uow, counted(promoted("C"), 2, 4))
    assert shown(uow) == (2, 0)
    await handle(uow, counted(s.OfferDeclined(application_id="A"), 1, 3))  # older: no point
    assert shown(uow) == (2, 0)
    assert uow.views.points == [(2027, Level.M1, NOW, 2)]
    assert uow.views.counts == {(2027, Level.M1): (4, 2)}


def orders(events: dict[str, list[EventData]]) -> Iterator[list[EventData]]:
    """Every read order that keeps each application's events in order (one partition
    per application, any order across them)."""
    tagged = [(a, n) for a, own in events.items() for n in range(len(own))]
    for order in permutations(tagged):
        if all(n == sum(1 for b, _ in order[:i] if b == a) for i, (a, n) in enumerate(order)):
            yield [events[a][n] for a, n in order]


async def test_in_every_read_order_no_point_and_no_summary_shows_more_than_capacity() -> None:
    """A and B hold the two places; A declines (C promoted), B's offer expires (D
    promoted), each in one of selection's transactions. However the partitions are
    interleaved, each point and each summary shows at most the capacity, the count only
    moves forward, and the last one is selection's."""
    selection = {
        "A": [counted(admitted("A"), 1, 1), counted(s.OfferDeclined(application_id="A"), 1, 3)],
        "B": [counted(admitted("B"), 2, 2), counted(s.OfferExpired(application_id="B"), 1, 5)],
        "C": [counted(promoted("C"), 2, 4)],
        "D": [counted(promoted("D"), 2, 6)],
    }
    stored = [ApplicationView(a, campaign=2027, level=Level.M1, received=True) for a in "ABCD"]
    read = 0
    for order in orders(selection):
        read += 1
        uow = FakeDashboardUnitOfWork(stored=stored)
        changes = []
        for data in order:
            await handle(uow, data)
            held, left = shown(uow)
            assert 0 <= held <= 2 and left >= 0, order
            changes.append(uow.views.counts[2027, Level.M1][0])
        assert changes == sorted(changes), "a change read late never moves the count back"
        assert all(held <= 2 for *_, held in uow.views.points), order
        assert uow.views.counts == {(2027, Level.M1): (6, 2)}
        assert shown(uow) == (2, 0)
    assert read == 180


async def test_an_old_offer_without_a_count_adds_no_point_once_selection_counts() -> None:
    """Events published before selection counted still chart the level, from the views,
    until selection's count is known; after that only its counts are points."""
    uow = FakeDashboardUnitOfWork(stored=[OFFERED])
    await handle(uow, received("A"), admitted("A"))
    assert uow.views.points == [(2027, Level.M1, NOW, 2)]
    await handle(uow, counted(s.OfferDeclined(application_id="B"), 1, 7))
    await handle(uow, received("E"), admitted("E"))  # a re-driven old dead letter
    assert uow.views.points == [(2027, Level.M1, NOW, 2), (2027, Level.M1, NOW, 1)]
    assert shown(uow) == (1, 1)
