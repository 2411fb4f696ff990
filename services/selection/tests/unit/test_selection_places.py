"""Offers, answers and the waitlist: the capacity invariant and promotion chains."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from ifuno_selection.domain.places import CapacityExceeded, LevelPlaces, NoOpenOffer
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import Level
from ifuno_shared.events import selection as e

pytestmark = pytest.mark.unit

NOW = datetime(2027, 6, 25, 14, 0, tzinfo=PARIS)
LATER = datetime(2027, 6, 28, 10, 0, tzinfo=PARIS)


def places(capacity: int = 2, offered: int = 2, waitlisted: int = 3) -> LevelPlaces:
    level = LevelPlaces(2027, Level.M1, capacity)
    for n in range(offered):
        level.offer(f"O{n}", NOW)
    level.add_to_waitlist([f"W{n}" for n in range(waitlisted)])
    level.events.clear()
    return level


def held(level: LevelPlaces) -> int:
    return len(level.seats)


def test_a_decline_promotes_the_first_waitlisted_with_a_new_deadline() -> None:
    level = places()
    level.decline("O0", LATER)
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
    level.decline("O0", LATER)
    level.decline("W0", LATER)
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
    level.accept("O0")
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
    level.decline("O0", LATER)
    assert level.free_places == 1 and not [ev for ev in level.events if isinstance(ev, e.Admitted)]


def test_answers_need_a_pending_offer() -> None:
    level = places()
    level.accept("O0")
    with pytest.raises(NoOpenOffer):
        level.decline("O0", LATER)
    with pytest.raises(NoOpenOffer):
        level.accept("W0")


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
        [level.decline, level.expire, level.withdraw][step % 3](target, LATER)
        assert held(level) <= level.capacity
        assert len(set(level.waitlist)) == len(level.waitlist)
        assert not set(level.waitlist) & set(level.seats)


def test_expiry_applies_only_to_offers_still_pending_past_their_deadline_minute() -> None:
    level = places()
    level.accept("O0")
    deadline = level.seats["O1"].offer_deadline
    assert level.expire_due(deadline.replace(second=59)) == []
    assert level.expire_due(deadline + timedelta(minutes=1)) == ["O1"]
    assert "O0" in level.seats and "W0" in level.seats


def test_one_freed_place_promotes_exactly_one_candidate_even_with_empty_places() -> None:
    level = places(capacity=4, offered=2, waitlisted=3)
    level.decline("O0", LATER)
    assert [ev.application_id for ev in level.events if isinstance(ev, e.Admitted)] == ["W0"]
    assert level.free_places == 2


def test_the_complementary_round_opens_only_with_free_places_and_no_waitlist() -> None:
    assert not places(capacity=3, offered=2, waitlisted=1).open_complementary_round()
    assert not places(capacity=2, offered=2, waitlisted=0).open_complementary_round()
    level = places(capacity=3, offered=1, waitlisted=0)
    assert level.open_complementary_round()
    assert level.events == [
        e.ComplementaryRoundOpened(campaign=2027, level=Level.M1, free_places=2)
    ]
