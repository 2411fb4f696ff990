"""Ranking, thresholds, ties, slots and deadlines (RULES.md)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from ifuno_selection.domain.rules import (
    Ranked,
    Thresholds,
    choose_slot,
    committee,
    file_score,
    interview_slots,
    offer_deadline,
    rank,
    short_notice,
)
from ifuno_selection.domain.season import Season
from ifuno_shared.calendar import PARIS, default_calendar

pytestmark = pytest.mark.unit

T0 = datetime(2027, 5, 1, tzinfo=PARIS)


def candidate(name: str, total: float, minutes: int = 0) -> Ranked:
    return Ranked(name, total, T0 + timedelta(minutes=minutes))


def review(a: int, b: int, c: int, d: int) -> dict[str, int]:
    return {"training_involvement": a, "digital_practice": b, "project": c, "study_capacity": d}


def test_the_file_score_sums_four_criteria_averaged_over_reviewers() -> None:
    assert file_score([review(5, 5, 5, 5)]) == 20
    assert file_score([review(3, 2, 4, 1), review(5, 4, 3, 2)]) == 12


def test_ranking_breaks_ties_by_earlier_completion() -> None:
    ranked = rank([candidate("late", 30, 10), candidate("best", 35, 50), candidate("early", 30, 5)])
    assert [r.application_id for r in ranked] == ["best", "early", "late"]


def test_the_committee_admits_within_capacity_then_waitlists_then_refuses() -> None:
    candidates = [candidate(f"A{n}", 40 - n, n) for n in range(25)]  # totals 40 .. 16
    decision = committee(candidates, free_places=5, thresholds=Thresholds())
    assert [c.application_id for c in decision.admitted] == ["A0", "A1", "A2", "A3", "A4"]
    assert [c.total for c in decision.waitlisted] == [35 - n for n in range(16)]
    assert decision.waitlisted[-1].total == 20  # the waitlist threshold is inclusive
    assert [c.total for c in decision.refused] == [19, 18, 17, 16]


def test_below_the_admission_threshold_nobody_is_admitted_even_with_places() -> None:
    decision = committee([candidate("A", 23.5), candidate("B", 24)], 20, Thresholds())
    assert [c.application_id for c in decision.admitted] == ["B"]
    assert [c.application_id for c in decision.waitlisted] == ["A"]


def test_thresholds_are_configurable() -> None:
    decision = committee([candidate("A", 30)], 1, Thresholds(admission=32, waitlist=31))
    assert [c.application_id for c in decision.refused] == ["A"]


def test_an_offer_expires_seven_days_later_at_2359_paris_time() -> None:
    decided = datetime(2027, 6, 25, 14, 0, tzinfo=PARIS)
    assert offer_deadline(decided) == datetime(2027, 7, 2, 23, 59, tzinfo=PARIS)


def test_the_deadline_day_is_the_paris_day_not_the_utc_day() -> None:
    decided = datetime(2027, 6, 25, 22, 30, tzinfo=UTC)  # already 26 June in Paris
    assert offer_deadline(decided) == datetime(2027, 7, 3, 23, 59, tzinfo=PARIS)


def test_an_offer_across_the_october_change_still_ends_at_2359_local() -> None:
    deadline = offer_deadline(datetime(2027, 10, 28, 10, 0, tzinfo=PARIS))
    assert deadline.utcoffset() == timedelta(hours=1)
    assert deadline.astimezone(PARIS).time() == time(23, 59)


def test_the_deadline_minute_is_still_on_time_and_expiry_waits_the_grace() -> None:
    season = Season.of(default_calendar(2027))
    deadline = datetime(2027, 7, 2, 23, 59, tzinfo=PARIS)
    assert season.on_time(deadline, deadline.replace(second=59))
    assert not season.on_time(deadline, datetime(2027, 7, 3, 0, 0, tzinfo=PARIS))
    assert not season.overdue(deadline, datetime(2027, 7, 3, 0, 9, 59, tzinfo=PARIS))
    assert season.overdue(deadline, datetime(2027, 7, 3, 0, 10, tzinfo=PARIS))


def test_the_last_offer_deadline_is_the_day_before_the_academic_year() -> None:
    season = Season.of(default_calendar(2029), offer_days=7)  # year starts Monday 3 Sept
    assert season.last_deadline == datetime(2029, 9, 2, 23, 59, tzinfo=PARIS)
    decided = datetime(2029, 8, 31, 14, 0, tzinfo=PARIS)
    assert season.offer_deadline(decided) == datetime(2029, 9, 2, 23, 59, tzinfo=PARIS)


def test_slots_are_thirty_minutes_on_weekdays_between_nine_and_five() -> None:
    start = datetime(2027, 6, 4, 9, 0, tzinfo=PARIS)  # a Friday
    end = datetime(2027, 6, 7, 17, 0, tzinfo=PARIS)  # the Monday after
    slots = interview_slots(start, end)
    assert len(slots) == 2 * 16
    assert slots[0] == start and slots[15] == datetime(2027, 6, 4, 16, 30, tzinfo=PARIS)
    assert slots[16] == datetime(2027, 6, 7, 9, 0, tzinfo=PARIS)
    assert all(s.weekday() < 5 for s in slots)


def test_a_slot_is_chosen_at_least_seven_days_ahead_when_the_window_allows() -> None:
    slots = interview_slots(
        datetime(2027, 6, 1, 9, 0, tzinfo=PARIS), datetime(2027, 6, 14, 17, 0, tzinfo=PARIS)
    )
    now = datetime(2027, 5, 27, 12, 0, tzinfo=PARIS)
    assert choose_slot(slots, set(), now, timedelta(days=7)) == datetime(
        2027, 6, 3, 12, 0, tzinfo=PARIS
    )


def test_a_taken_slot_is_never_given_twice_and_a_late_invitation_takes_the_first_free() -> None:
    slots = interview_slots(
        datetime(2027, 6, 1, 9, 0, tzinfo=PARIS), datetime(2027, 6, 1, 10, 0, tzinfo=PARIS)
    )
    now = datetime(2027, 5, 31, 12, 0, tzinfo=PARIS)
    first = choose_slot(slots, set(), now, timedelta(days=7))
    assert first == slots[0]
    assert choose_slot(slots, {slots[0]}, now, timedelta(days=7)) == slots[1]
    assert choose_slot(slots, set(slots), now, timedelta(days=7)) is None
    assert short_notice(slots[0], now, timedelta(days=7)) == (0, True)  # 21 hours ahead
