"""The projection: each event moves the right counters; a replayed event changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import combinations, permutations

import pytest
from ifuno_dashboard.domain.projection import ApplicationView, apply, next_deadline, summarise
from ifuno_shared.calendar import PARIS, default_calendar
from ifuno_shared.events import EventData, Level
from ifuno_shared.events import candidature as c
from ifuno_shared.events import selection as s

pytestmark = pytest.mark.unit

DEADLINE = datetime(2027, 7, 2, 23, 59, tzinfo=PARIS)
CAPACITY = {Level.M1: 20, Level.M2: 24}


def received(a: str, level: str = "M1") -> c.ApplicationReceived:
    return c.ApplicationReceived(
        application_id=a,
        campaign=2027,
        round="main",
        level=level,
        regime="alternance",
        missing_documents=[],
        eligibility=c.Eligibility(eligible=True),
    )


def fold(events: list[EventData]) -> dict[str, ApplicationView]:
    views: dict[str, ApplicationView] = {}
    for data in events:
        a = data.application_id  # type: ignore[attr-defined]
        views[a] = apply(views.get(a, ApplicationView(a)), data)
    return views


def funnel(events: list[EventData], level: Level = Level.M1) -> dict[str, int]:
    return summarise(list(fold(events).values()), CAPACITY)[level].funnel


def interleavings(one: list[EventData], other: list[EventData]) -> Iterator[list[EventData]]:
    """Every order of two topics' events that keeps each topic's own order."""
    size = len(one) + len(other)
    for places in combinations(range(size), len(one)):
        first, second = iter(one), iter(other)
        yield [next(first) if i in places else next(second) for i in range(size)]


PATH: list[EventData] = [
    received("A"),
    c.ApplicationCompleted(application_id="A"),
    s.Shortlisted(application_id="A", level="M1", file_score=15),
    s.InterviewRecorded(application_id="A", attended=True, score=14),
    s.Admitted(application_id="A", level="M1", offer_deadline=DEADLINE, from_waitlist=False),
    s.OfferAccepted(application_id="A"),
]


@pytest.mark.parametrize(
    ("steps", "counter"),
    [
        (1, "received"),
        (2, "complete"),
        (3, "shortlisted"),
        (4, "interviewed"),
        (5, "admitted"),
        (6, "accepted"),
    ],
)
def test_each_event_moves_its_counter(steps: int, counter: str) -> None:
    before = funnel(PATH[: steps - 1])
    after = funnel(PATH[:steps])
    assert after[counter] == before[counter] + 1
    assert {k: v for k, v in after.items() if k != counter} == {
        k: v for k, v in before.items() if k != counter
    }


def test_a_replayed_event_changes_nothing() -> None:
    once = fold(PATH)
    twice = fold([e for event in PATH for e in (event, event)])
    assert once == twice


def test_places_are_held_by_offers_and_acceptances_only() -> None:
    events: list[EventData] = [
        received("A"),
        received("B"),
        received("C"),
        s.Admitted(application_id="A", level="M1", offer_deadline=DEADLINE, from_waitlist=False),
        s.Admitted(application_id="B", level="M1", offer_deadline=DEADLINE, from_waitlist=False),
        s.OfferAccepted(application_id="A"),
        s.OfferDeclined(application_id="B"),
        s.Waitlisted(application_id="C", level="M1", rank=1),
    ]
    level = summarise(list(fold(events).values()), CAPACITY)[Level.M1]
    assert level.held == 1 and level.places_left == 19
    assert level.funnel["declined"] == 1 and level.funnel["waitlisted"] == 1
    assert level.waitlist == [(1, "C")]


def test_a_promotion_leaves_the_waitlist_and_refusals_are_counted_by_reason() -> None:
    events: list[EventData] = [
        received("A", "M2"),
        received("B", "M2"),
        s.Waitlisted(application_id="A", level="M2", rank=1),
        s.Admitted(application_id="A", level="M2", offer_deadline=DEADLINE, from_waitlist=True),
        s.Refused(application_id="B", reason="absent_from_interview", level="M2"),
        c.ApplicationRefused(
            application_id="L", reason="campaign_closed", campaign=2027, level="M2"
        ),
    ]
    level = summarise(list(fold(events).values()), CAPACITY)[Level.M2]
    assert level.waitlist == [] and level.held == 1
    assert level.refusals == {"absent_from_interview": 1, "campaign_closed": 1}


def test_the_places_held_are_selections_count_where_it_gave_one() -> None:
    """Selection's count, not the views folded in reading order (a promotion read
    before the decline that freed its place); the views for a level it never counted."""
    views = [
        ApplicationView(a, campaign=2027, level=level, holding="offered")
        for a, level in (("A", Level.M1), ("B", Level.M1), ("C", Level.M2))
    ]
    levels = summarise(views, CAPACITY, {Level.M1: 1})
    assert (levels[Level.M1].held, levels[Level.M1].places_left) == (1, 19)
    assert (levels[Level.M2].held, levels[Level.M2].places_left) == (1, 23)
    assert summarise(views, CAPACITY)[Level.M1].held == 2


def test_a_withdrawal_frees_a_held_place() -> None:
    events = [*PATH, s.PlaceReleased(application_id="A", level="M1")]
    level = summarise(list(fold(events).values()), CAPACITY)[Level.M1]
    assert level.held == 0 and level.funnel["withdrawn"] == 1


def test_views_and_the_summary_are_keyed_by_the_levels_of_the_capacities() -> None:
    views = fold([received("A", "M2")])
    assert views["A"].level is Level.M2
    levels = summarise(list(views.values()), CAPACITY)
    assert list(levels) == [Level.M1, Level.M2]
    assert levels[Level.M2].funnel["received"] == 1 and levels[Level.M2].capacity == 24


def test_the_next_deadline_is_the_next_phase_or_an_earlier_offer_deadline() -> None:
    starts = default_calendar(2027).phase_starts()
    complementary = default_calendar(2027).complementary_submissions_open
    now = datetime(2027, 6, 26, tzinfo=PARIS)
    offered = ApplicationView("A", holding="offered", offer_deadline=DEADLINE)
    assert next_deadline(starts, now, []) == ("complementary_submissions_open", complementary)
    assert next_deadline(starts, now, [offered]) == (
        "complementary_submissions_open",
        complementary,
    )
    accepted = ApplicationView("B", holding="accepted", offer_deadline=now)
    assert next_deadline(starts, now, [accepted]) == (
        "complementary_submissions_open",
        complementary,
    )
    # Read back from the database in UTC: one hour after the phase starts, yet its
    # text sorts first ("...-06-30T23:00+00:00" < "...-07-01T00:00+02:00").
    later = ApplicationView(
        "C", holding="offered", offer_deadline=(complementary + timedelta(hours=1)).astimezone(UTC)
    )
    assert next_deadline(starts, now, [later]) == ("complementary_submissions_open", complementary)
    sooner = ApplicationView("D", holding="offered", offer_deadline=now + timedelta(days=1))
    assert next_deadline(starts, now, [offered, sooner]) == (
        "offer_deadline",
        sooner.offer_deadline,
    )
    assert next_deadline(starts, datetime(2027, 9, 30, tzinfo=PARIS), []) is None


def test_a_withdrawn_candidate_leaves_the_waitlist_whatever_topic_is_read_first() -> None:
    candidature: list[EventData] = [
        received("W"),
        c.ApplicationWithdrawn(application_id="W", campaign=2027, level="M1"),
    ]
    selection: list[EventData] = [
        s.Waitlisted(application_id="W", level="M1", rank=2, campaign=2027),
        s.WaitlistRankChanged(application_id="W", level="M1", rank=1, previous_rank=2),
    ]
    for order in interleavings(candidature, selection):
        level = summarise(list(fold(order).values()), CAPACITY)[Level.M1]
        assert level.waitlist == [], order
        assert level.funnel["waitlisted"] == 0 and level.funnel["withdrawn"] == 1, order


def _offer_state(events: list[EventData]) -> tuple[int, str | None, list[tuple[int, str]]]:
    view = fold([received("A"), *events])["A"]
    level = summarise([view], CAPACITY)[Level.M1]
    return level.held, view.holding, level.waitlist


LATER = datetime(2027, 7, 20, 23, 59, tzinfo=PARIS)
ADMITTED = s.Admitted(application_id="A", level="M1", offer_deadline=DEADLINE, from_waitlist=False)
PROMOTED = s.Admitted(application_id="A", level="M1", offer_deadline=DEADLINE, from_waitlist=True)
ACCEPTED = s.OfferAccepted(application_id="A")
DECLINED = s.OfferDeclined(application_id="A")
EXPIRED = s.OfferExpired(application_id="A")
RELEASED = s.PlaceReleased(application_id="A", level="M1")


def waitlisted(rank: int, late_answer: bool = False) -> s.Waitlisted:
    return s.Waitlisted(application_id="A", level="M1", rank=rank, late_answer=late_answer)


@pytest.mark.parametrize(
    "season",
    [
        [ADMITTED, ACCEPTED],
        [ADMITTED, DECLINED],
        [ADMITTED, EXPIRED],
        [ADMITTED, RELEASED],
        [ADMITTED, ACCEPTED, RELEASED],
        [ADMITTED, EXPIRED, ACCEPTED],  # an on-time acceptance read late, honoured
        [waitlisted(2), s.WaitlistRankChanged(application_id="A", level="M1", rank=1), PROMOTED],
        [waitlisted(1), PROMOTED, ACCEPTED],
        [waitlisted(1), PROMOTED, DECLINED],
        [waitlisted(1), PROMOTED, EXPIRED],
        [ADMITTED, EXPIRED, waitlisted(1, late_answer=True)],
        [
            ADMITTED,
            EXPIRED,
            waitlisted(1, late_answer=True),
            s.WaitlistClosed(application_id="A", level="M1"),
        ],
    ],
)
def test_an_offer_ends_the_same_whatever_order_its_events_are_read_in(
    season: list[EventData],
) -> None:
    """A re-driven dead letter can bring any selection event after the ones behind it:
    an offer read after its answer or expiry holds no place again, and a rank read
    after the promotion puts no one back on the waitlist."""
    expected = _offer_state(season)
    for order in permutations(season):
        assert _offer_state(list(order)) == expected, [type(e).__name__ for e in order]


def test_a_promotion_after_an_expired_offer_is_a_new_offer() -> None:
    """An on-time answer read after the expiry puts the candidate back on the waitlist;
    promoted later, with a later deadline, the candidate holds a place again, and the
    first offer read late (a re-driven dead letter) does not undo the second's answer."""
    promoted = PROMOTED.model_copy(update={"offer_deadline": LATER})
    season = [ADMITTED, EXPIRED, waitlisted(1, late_answer=True), promoted]
    assert _offer_state(season) == (1, "offered", [])
    assert _offer_state([*season, ACCEPTED]) == (1, "accepted", [])
    assert _offer_state([*season, DECLINED, ADMITTED]) == (0, None, [])
    assert _offer_state([*season[:-1], ACCEPTED, promoted]) == (1, "accepted", [])
    assert _offer_state([EXPIRED, *season[2:], ADMITTED]) == (1, "offered", [])
