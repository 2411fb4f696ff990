"""What a move of the clock announces (pure rules)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from ifuno_shared.calendar import PARIS, default_calendar
from ifuno_shared.events import Phase
from ifuno_timeline.domain.clock import ClockWentBackwards, plan_move

pytestmark = pytest.mark.unit

CALENDAR = default_calendar(2027)


def test_a_move_within_a_phase_announces_only_the_tick() -> None:
    move = plan_move(
        CALENDAR,
        datetime(2027, 5, 2, tzinfo=PARIS),
        datetime(2027, 5, 3, tzinfo=PARIS),
        {Phase.MAIN_SUBMISSIONS_OPEN},
    )
    assert move.phases == []
    assert move.tick.now == datetime(2027, 5, 3, tzinfo=PARIS)
    assert move.tick.previous == datetime(2027, 5, 2, tzinfo=PARIS)


def test_a_jump_across_three_phases_announces_the_three_in_order() -> None:
    move = plan_move(
        CALENDAR,
        datetime(2027, 5, 2, tzinfo=PARIS),
        datetime(2027, 6, 30, tzinfo=PARIS),
        {Phase.MAIN_SUBMISSIONS_OPEN},
    )
    assert [p.phase for p in move.phases] == [
        Phase.MAIN_SUBMISSIONS_CLOSED,
        Phase.MAIN_INTERVIEWS,
        Phase.MAIN_COMMITTEE,
    ]
    assert move.phases[0].starts_at == CALENDAR.main_submissions_close


def test_the_first_move_announces_every_phase_already_started() -> None:
    move = plan_move(CALENDAR, None, datetime(2027, 6, 2, tzinfo=PARIS), set())
    assert [p.phase for p in move.phases] == [
        Phase.MAIN_SUBMISSIONS_OPEN,
        Phase.MAIN_SUBMISSIONS_CLOSED,
        Phase.MAIN_INTERVIEWS,
    ]


def test_a_phase_already_announced_is_never_announced_again() -> None:
    at = CALENDAR.main_committee
    move = plan_move(CALENDAR, at - timedelta(hours=1), at, set(Phase) - {Phase.MAIN_COMMITTEE})
    assert [p.phase for p in move.phases] == [Phase.MAIN_COMMITTEE]
    assert plan_move(CALENDAR, at, at, set(Phase)).phases == []


def test_a_phase_starts_at_its_exact_instant_not_a_second_before() -> None:
    at = CALENDAR.main_submissions_close
    before = plan_move(CALENDAR, None, at - timedelta(seconds=1), set())
    assert Phase.MAIN_SUBMISSIONS_CLOSED not in [p.phase for p in before.phases]
    exactly = plan_move(CALENDAR, None, at, set())
    assert Phase.MAIN_SUBMISSIONS_CLOSED in [p.phase for p in exactly.phases]


def test_the_clock_never_moves_back() -> None:
    with pytest.raises(ClockWentBackwards):
        plan_move(
            CALENDAR, datetime(2027, 6, 2, tzinfo=PARIS), datetime(2027, 6, 1, tzinfo=PARIS), set()
        )
