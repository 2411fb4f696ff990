"""Offers, answers and the waitlist: the capacity invariant and promotion chains."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from ifuno_selection.domain.places import (
    CapacityExceeded,
    LateAnswer,
    LevelPlaces,
    NoOpenOffer,
    RoundState,
)
from ifuno_selection.domain.season import Season
from ifuno_shared.calendar import PARIS, default_calendar
from ifuno_shared.events import Level
from ifuno_shared.events import selection as e

pytestmark = pytest.mark.unit

NOW = datetime(2027, 6, 25, 14, 0, tzinfo=PARIS)
LATER = datetime(2027, 6, 28, 10, 0, tzinfo=PARIS)
SEASON = Season.of(default_calendar(2027))  # 7 days, 10 minutes' grace, 2027's dates


def places(
    capacity: int = 2, offered: int = 2, waitlisted: int = 3, season: Season = SEASON
) -> LevelPlaces:
    level = LevelPlaces(2027, Level.M1, capacity, season=season)
    for n in range(offered):
        level.offer(f"O{n}", NOW)
    level.add_to_waitlist([f"W{n}" for n in range(waitlisted)], NOW)
    level.events.clear()
    return level


def kinds(level: LevelPlaces) -> list[tuple[str, str]]:
    return [
        (getattr(ev, "application_id", ev.level.value), type(ev).__name__) for ev in level.events
    ]


def held(level: LevelPlaces) -> int:
    return len(level.seats)


def test_a_decline_promotes_the_first_waitlisted_with_a_new_deadline() -> None:
    level = places()
    level.decline("O0", LATER, LATER)
    assert set(level.seats) == {"O1", "W0"}
    admitted = [ev for ev in level.events if isinstance(ev, e.Admitted)]
    assert admitted[0].application_id == "W0" and admitted[0].from_waitlist
    assert admitted[0].offer_deadline == datetime(2027, 7, 5, 23, 59, tzinfo=PARIS)
    changes = [
        (ev.application_id, ev.rank) for ev in level.events if isinstance(ev, e.WaitlistRankChanged)
    ]
    assert changes == [("W1", 1), ("W2", 2)]


def test_a_promotion_chain_a_promoted_candidate_who_declines_promotes_the_next() -> None:
    level = places()
    level.decline("O0", LATER, LATER)
    level.decline("W0", LATER, LATER)
    assert set(level.seats) == {"O1", "W1"}
    assert level.waitlist == ["W2"]
    assert [type(ev).__name__ for ev in level.events] == [
        "OfferDeclined",
        "Admitted",
        "WaitlistRankChanged",
        "WaitlistRankChanged",
        "OfferDeclined",
        "Admitted",
        "WaitlistRankChanged",
    ]
    assert held(level) <= level.capacity


def test_an_expiry_counts_as_a_decline() -> None:
    level = places()
    level.expire("O1", LATER)
    assert isinstance(level.events[0], e.OfferExpired)
    assert "W0" in level.seats


def test_an_accepted_place_is_kept_and_a_later_withdrawal_frees_it() -> None:
    level = places()
    level.accept("O0", LATER)
    assert level.free_places == 0
    assert level.withdraw("O0", LATER)
    assert [type(ev).__name__ for ev in level.events][:3] == [
        "OfferAccepted",
        "PlaceReleased",
        "Admitted",
    ]
    assert "W0" in level.seats


def test_a_waitlisted_withdrawal_moves_the_others_up() -> None:
    level = places()
    level.withdraw("W0", LATER)
    assert level.waitlist == ["W1", "W2"]
    assert [(ev.application_id, ev.rank) for ev in level.events] == [("W1", 1), ("W2", 2)]


def test_declines_with_an_empty_waitlist_leave_free_places() -> None:
    level = places(waitlisted=0)
    level.decline("O0", LATER, LATER)
    assert level.free_places == 1 and not [ev for ev in level.events if isinstance(ev, e.Admitted)]


def test_answers_need_a_pending_offer() -> None:
    level = places()
    level.accept("O0", LATER)
    with pytest.raises(NoOpenOffer):
        level.decline("O0", LATER, LATER)
    with pytest.raises(NoOpenOffer):
        level.accept("W0", LATER)


def test_no_place_is_ever_offered_beyond_capacity() -> None:
    level = places()
    with pytest.raises(CapacityExceeded):
        level.offer("X", NOW)


def test_any_sequence_of_declines_expiries_and_withdrawals_keeps_the_invariant() -> None:
    level = places(capacity=5, offered=5, waitlisted=20)
    for step in range(30):
        pending = [a for a, seat in level.seats.items() if seat.status.value == "offered"]
        if not pending:
            break
        target = pending[step % len(pending)]
        if step % 3 == 0:
            level.decline(target, LATER, LATER)
        else:
            [level.expire, level.withdraw][step % 3 - 1](target, LATER)
        assert held(level) <= level.capacity
        assert len(set(level.waitlist)) == len(level.waitlist)
        assert not set(level.waitlist) & set(level.seats)


def test_expiry_applies_only_to_offers_still_pending_past_their_deadline_minute() -> None:
    level = places()
    level.accept("O0", LATER)
    deadline = level.seats["O1"].offer_deadline
    assert level.expire_due(deadline.replace(second=59)) == []
    assert level.expire_due(deadline + timedelta(minutes=10, seconds=59)) == []  # the grace
    assert level.expire_due(deadline + timedelta(minutes=11)) == ["O1"]
    assert "O0" in level.seats and "W0" in level.seats


def test_places_the_committee_leaves_empty_go_to_the_waitlist_at_once() -> None:
    level = LevelPlaces(2027, Level.M1, 5, season=SEASON)
    level.offer("O0", NOW)
    level.offer("O1", NOW)
    level.add_to_waitlist([f"W{n}" for n in range(5)], NOW)
    assert set(level.seats) == {"O0", "O1", "W0", "W1", "W2"} and level.waitlist == ["W3", "W4"]
    promoted = [ev for ev in level.events if isinstance(ev, e.Admitted) and ev.from_waitlist]
    assert [ev.application_id for ev in promoted] == ["W0", "W1", "W2"]
    waiting = [(ev.application_id, ev.rank) for ev in level.events if isinstance(ev, e.Waitlisted)]
    assert waiting == [("W3", 1), ("W4", 2)]  # told once, their rank after the promotions


def test_the_complementary_round_opens_when_the_waitlist_runs_out_in_july() -> None:
    level = places(capacity=2, offered=2, waitlisted=1)
    level.settle(datetime(2027, 7, 1, tzinfo=PARIS))  # the window opens: someone waits
    assert level.complementary_round is None and level.events == []
    deadline = level.seats["O0"].offer_deadline
    level.expire("O0", deadline + timedelta(minutes=11))  # 3 July: W0 promoted
    assert level.complementary_round is None
    level.expire_due(level.seats["W0"].offer_deadline + timedelta(minutes=11))
    assert level.complementary_round is RoundState.OPEN
    opened = [ev for ev in level.events if isinstance(ev, e.ComplementaryRoundOpened)]
    assert opened == [e.ComplementaryRoundOpened(campaign=2027, level=Level.M1, free_places=2)]


def test_the_complementary_round_opens_once_while_open_and_closes_when_places_are_held() -> None:
    level = places(capacity=3, offered=1, waitlisted=0)
    assert level.complementary_round is None  # June: not yet
    july = datetime(2027, 7, 1, tzinfo=PARIS)
    level.settle(july)
    level.settle(july)
    assert kinds(level) == [("M1", "ComplementaryRoundOpened")]
    level.events.clear()
    august = datetime(2027, 8, 27, 14, 0, tzinfo=PARIS)
    level.offer("C0", august)
    level.add_to_waitlist(["C1", "C2"], august)  # one place left: C1 gets it
    assert level.complementary_round is RoundState.CLOSED
    assert kinds(level)[-2:] == [("C2", "Waitlisted"), ("M1", "ComplementaryRoundClosed")]


def test_the_complementary_round_opens_again_when_a_place_frees_in_the_window() -> None:
    """Checked at every moment of the window, not once: B's on-time acceptance read
    late holds the last place (closed), A withdraws on 10 July (open again), B withdraws
    after the window (no reopening)."""
    level = places(capacity=2, offered=0, waitlisted=0)
    level.offer("A", NOW)
    level.offer("B", NOW)
    level.accept("A", LATER)
    deadline = level.seats["B"].offer_deadline
    level.expire_due(deadline + timedelta(minutes=11))  # 3 July, no one waiting
    level.accept_late("B", deadline, deadline, deadline + timedelta(hours=8))
    assert level.complementary_round is RoundState.CLOSED
    level.events.clear()
    level.withdraw("A", datetime(2027, 7, 10, 10, 0, tzinfo=PARIS))
    assert level.complementary_round is RoundState.OPEN
    assert level.events[-1] == e.ComplementaryRoundOpened(
        campaign=2027, level=Level.M1, free_places=1
    )
    level.add_to_waitlist(["C"], datetime(2027, 7, 12, 10, 0, tzinfo=PARIS))  # C gets it
    assert kinds(level)[-1] == ("M1", "ComplementaryRoundClosed")
    level.events.clear()
    level.withdraw("B", datetime(2027, 8, 16, 0, 0, tzinfo=PARIS))  # submissions closed
    assert level.complementary_round is RoundState.CLOSED
    assert kinds(level) == [("B", "PlaceReleased")]


def test_a_closed_round_stays_closed_when_a_freed_place_goes_to_the_waitlist() -> None:
    level = places(capacity=1, offered=0, waitlisted=0)
    level.offer("A", NOW)
    deadline = level.seats["A"].offer_deadline
    level.expire_due(deadline + timedelta(minutes=11))  # open
    level.add_to_waitlist(["B"], datetime(2027, 7, 4, 10, 0, tzinfo=PARIS))  # B: closed
    assert level.complementary_round is RoundState.CLOSED
    level.accept_late("A", deadline, deadline, datetime(2027, 7, 5, 10, 0, tzinfo=PARIS))
    assert level.waitlist == ["A"]
    level.events.clear()
    level.withdraw("B", datetime(2027, 7, 10, 10, 0, tzinfo=PARIS))
    assert level.complementary_round is RoundState.CLOSED
    assert kinds(level) == [("B", "PlaceReleased"), ("A", "Admitted")]


def test_no_complementary_round_outside_its_window() -> None:
    level = places(capacity=3, offered=1, waitlisted=0)
    level.settle(datetime(2027, 8, 16, 0, 0, tzinfo=PARIS))  # submissions closed
    assert level.complementary_round is None and level.events == []


def test_an_answer_counts_by_the_candidates_own_time() -> None:
    level = places()
    deadline = level.seats["O0"].offer_deadline
    with pytest.raises(LateAnswer):
        level.accept("O0", deadline + timedelta(seconds=90))  # 00:00:30 the next day
    level.accept("O0", deadline.replace(second=59))
    with pytest.raises(LateAnswer):
        level.decline("O1", deadline + timedelta(minutes=1), deadline + timedelta(minutes=2))


def test_an_on_time_acceptance_read_after_expiry_takes_a_place_still_free() -> None:
    level = places(capacity=2, offered=2, waitlisted=0)
    deadline = level.seats["O0"].offer_deadline
    level.expire("O0", deadline + timedelta(minutes=11))
    level.events.clear()
    level.accept_late("O0", deadline, deadline.replace(second=30), deadline + timedelta(hours=1))
    assert level.seats["O0"].status.value == "accepted" and "O0" in level.late_answers
    # The expiry on 3 July had opened the complementary round: full again, it closes.
    assert kinds(level) == [("O0", "OfferAccepted"), ("M1", "ComplementaryRoundClosed")]


def test_an_on_time_acceptance_whose_place_was_given_away_goes_first_on_the_waitlist() -> None:
    level = places()
    deadline = level.seats["O0"].offer_deadline
    level.expire("O0", deadline + timedelta(minutes=11))  # W0 promoted
    level.events.clear()
    level.accept_late("O0", deadline, deadline.replace(second=30), deadline + timedelta(hours=1))
    assert level.waitlist == ["O0", "W1", "W2"]
    assert level.events == [
        e.Waitlisted(application_id="O0", level=Level.M1, rank=1, campaign=2027, late_answer=True),
        e.WaitlistRankChanged(application_id="W1", level=Level.M1, rank=2, previous_rank=1),
        e.WaitlistRankChanged(application_id="W2", level=Level.M1, rank=3, previous_rank=2),
    ]


def test_a_late_acceptance_after_expiry_is_refused() -> None:
    level = places(capacity=2, offered=2, waitlisted=0)
    deadline = level.seats["O0"].offer_deadline
    level.expire("O0", deadline + timedelta(minutes=11))
    with pytest.raises(LateAnswer):
        level.accept_late("O0", deadline, deadline + timedelta(seconds=90), deadline)


def test_offer_deadlines_follow_the_setting_and_stop_before_the_academic_year() -> None:
    season = Season.of(default_calendar(2027), offer_days=3)
    level = LevelPlaces(2027, Level.M1, 2, season=season)
    level.offer("A", NOW)
    level.offer("B", datetime(2027, 9, 3, 10, 0, tzinfo=PARIS))  # year starts Monday 6 Sept
    assert level.seats["A"].offer_deadline == datetime(2027, 6, 28, 23, 59, tzinfo=PARIS)
    assert level.seats["B"].offer_deadline == datetime(2027, 9, 5, 23, 59, tzinfo=PARIS)


def test_no_promotion_once_no_offer_could_be_answered_before_the_academic_year() -> None:
    level = places(capacity=1, offered=1, waitlisted=1)
    level.decline("O0", NOW, datetime(2027, 9, 6, 0, 5, tzinfo=PARIS))
    assert level.free_places == 1 and level.waitlist == ["W0"]


def test_the_waitlist_closes_at_the_academic_year() -> None:
    level = places()
    assert level.close_waitlist() == ["W0", "W1", "W2"]
    assert level.waitlist == [] and level.left == dict.fromkeys(
        ["W0", "W1", "W2"], "waitlist_closed"
    )
    assert kinds(level) == [(f"W{n}", "WaitlistClosed") for n in range(3)]


def test_a_two_year_plan_is_for_an_accepted_m2_place_only_and_changes_no_capacity() -> None:
    m2 = LevelPlaces(2027, Level.M2, 2, season=SEASON)
    m2.offer("A", NOW)
    m2.offer("B", NOW)
    m2.events.clear()
    assert not m2.record_two_year_plan("B")  # offered, not accepted
    m2.accept("A", NOW)
    assert m2.record_two_year_plan("A")
    assert not m2.record_two_year_plan("A")  # once
    assert m2.free_places == 0 and m2.seats["A"].two_year_plan
    assert kinds(m2)[-1] == ("A", "TwoYearPlanRecorded")
    m1 = places()
    m1.accept("O0", NOW)
    assert not m1.record_two_year_plan("O0")


PLACE_EVENTS = (e.Admitted, e.OfferAccepted, e.OfferDeclined, e.OfferExpired, e.PlaceReleased)


def counted(level: LevelPlaces) -> list[tuple[str, str, int | None, int | None]]:
    """Each place event's application, kind, places held after it and its number."""
    return [
        (ev.application_id, type(ev).__name__, ev.places_held, ev.places_change)
        for ev in level.events
        if isinstance(ev, PLACE_EVENTS)
    ]


def test_each_place_event_carries_the_places_held_after_it_and_its_number() -> None:
    """Selection is the authority on places: a decline and the promotion it causes go to
    two partitions, and a reader orders them by their numbers, never by reading order."""
    level = LevelPlaces(2027, Level.M1, 2, season=SEASON)
    level.offer("A", NOW)
    level.offer("B", NOW)
    level.add_to_waitlist(["C", "D", "E"], NOW)
    level.decline("A", LATER, LATER)
    level.expire("B", LATER)
    level.withdraw("C", LATER)
    assert counted(level) == [
        ("A", "Admitted", 1, 1),
        ("B", "Admitted", 2, 2),
        ("A", "OfferDeclined", 1, 3),
        ("C", "Admitted", 2, 4),
        ("B", "OfferExpired", 1, 5),
        ("D", "Admitted", 2, 6),
        ("C", "PlaceReleased", 1, 7),
        ("E", "Admitted", 2, 8),
    ]
    assert all(ev.campaign == 2027 for ev in level.events if hasattr(ev, "campaign"))
    assert level.place_changes == 8


def test_the_place_count_goes_on_from_the_stored_number() -> None:
    level = places()
    level.place_changes = 41  # as stored with the level
    level.decline("O0", LATER, LATER)
    assert counted(level) == [("O0", "OfferDeclined", 1, 42), ("W0", "Admitted", 2, 43)]


def test_an_acceptance_counts_only_when_it_takes_a_place() -> None:
    """The offer held the place already; an on-time acceptance read after the expiry
    takes a place still free: a change of the places held."""
    level = places(capacity=2, offered=2, waitlisted=0)
    level.accept("O1", LATER)
    deadline = level.seats["O0"].offer_deadline
    level.expire_due(deadline + timedelta(minutes=11))
    level.accept_late("O0", deadline, deadline, deadline + timedelta(hours=1))
    assert counted(level) == [
        ("O1", "OfferAccepted", None, None),
        ("O0", "OfferExpired", 1, 3),
        ("O0", "OfferAccepted", 2, 4),
    ]
