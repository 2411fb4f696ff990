"""Moving the clock on an in-memory repository: what one transaction publishes and keeps."""

from __future__ import annotations

from datetime import datetime

import pytest
from ifuno_shared.calendar import PARIS, default_calendar
from ifuno_shared.events import Phase
from ifuno_shared.events.timeline import CalendarChanged, ClockAdvanced, PhaseStarted
from ifuno_timeline.adapters.repository import AbstractTimelineRepository
from ifuno_timeline.domain.clock import ClockWentBackwards
from ifuno_timeline.service_layer.handlers import announce_calendar, current_instant, move_clock
from ifuno_timeline.service_layer.unit_of_work import TimelineUnitOfWork
from ifuno_tools.testing.fakes import FakeUnitOfWork

pytestmark = pytest.mark.unit

CALENDAR = default_calendar(2027)


class FakeTimelineRepository(AbstractTimelineRepository):
    def __init__(self) -> None:
        self.clocks: dict[int, datetime | None] = {}
        self.published: dict[tuple[int, Phase], datetime] = {}

    async def lock_clock(self, campaign: int) -> datetime | None:
        return self.clocks.setdefault(campaign, None)

    async def read_clock(self, campaign: int) -> datetime | None:
        return self.clocks.get(campaign)

    async def set_clock(self, campaign: int, now: datetime) -> None:
        self.clocks[campaign] = now

    async def published_phases(self, campaign: int) -> set[Phase]:
        return {phase for c, phase in self.published if c == campaign}

    async def mark_published(self, campaign: int, phase: Phase, at: datetime) -> None:
        self.published[campaign, phase] = at


class FakeTimelineUnitOfWork(FakeUnitOfWork, TimelineUnitOfWork):
    def __init__(self) -> None:
        super().__init__()
        self.timeline = FakeTimelineRepository()


async def test_a_first_move_announces_the_phases_started_then_the_tick_in_one_commit() -> None:
    uow = FakeTimelineUnitOfWork()
    now = datetime(2027, 6, 2, tzinfo=PARIS)
    assert await move_clock(uow, CALENDAR, now) == [
        Phase.MAIN_SUBMISSIONS_OPEN,
        Phase.MAIN_SUBMISSIONS_CLOSED,
        Phase.MAIN_INTERVIEWS,
    ]
    assert uow.commits == 1
    assert [type(e.data) for e in uow.committed_events] == [PhaseStarted] * 3 + [ClockAdvanced]
    assert {e.subject for e in uow.committed_events} == {"2027"}
    assert uow.committed_events[-1].data == ClockAdvanced(campaign=2027, now=now, previous=None)
    assert await current_instant(uow, 2027) == now
    assert set(uow.timeline.published.values()) == {now}


async def test_a_move_within_a_phase_announces_only_the_tick_from_the_last_instant() -> None:
    uow = FakeTimelineUnitOfWork()
    first, second = datetime(2027, 5, 2, tzinfo=PARIS), datetime(2027, 5, 3, tzinfo=PARIS)
    await move_clock(uow, CALENDAR, first)
    assert await move_clock(uow, CALENDAR, second) == []
    assert uow.committed_events[-1].data == ClockAdvanced(campaign=2027, now=second, previous=first)
    assert [type(e.data) for e in uow.committed_events].count(PhaseStarted) == 1


async def test_a_move_back_commits_nothing() -> None:
    uow = FakeTimelineUnitOfWork()
    now = datetime(2027, 6, 2, tzinfo=PARIS)
    await move_clock(uow, CALENDAR, now)
    with pytest.raises(ClockWentBackwards):
        await move_clock(uow, CALENDAR, datetime(2027, 6, 1, tzinfo=PARIS))
    assert uow.commits == 1
    assert await current_instant(uow, 2027) == now


async def test_a_changed_calendar_is_announced_whole_before_the_phases_it_starts() -> None:
    uow = FakeTimelineUnitOfWork()
    await move_clock(uow, CALENDAR, datetime(2027, 5, 2, tzinfo=PARIS))
    earlier = CALENDAR.with_overrides(
        {"main_submissions_close": datetime(2027, 5, 5, 23, 59, tzinfo=PARIS)}
    )
    now = datetime(2027, 5, 7, tzinfo=PARIS)
    assert await move_clock(uow, earlier, now, announce=True) == [Phase.MAIN_SUBMISSIONS_CLOSED]
    changed, started, tick = (e.data for e in uow.committed_events[-3:])
    assert isinstance(changed, CalendarChanged) and isinstance(started, PhaseStarted)
    assert [p.phase for p in changed.phases] == list(Phase)
    close = next(p for p in changed.phases if p.phase is Phase.MAIN_SUBMISSIONS_OPEN)
    assert close.ends_at == started.starts_at == datetime(2027, 5, 5, 23, 59, tzinfo=PARIS)
    assert tick == ClockAdvanced(
        campaign=2027, now=now, previous=datetime(2027, 5, 2, tzinfo=PARIS)
    )


async def test_the_calendar_is_announced_without_moving_the_clock() -> None:
    uow = FakeTimelineUnitOfWork()
    await move_clock(uow, CALENDAR, datetime(2027, 5, 2, tzinfo=PARIS))
    await announce_calendar(uow, CALENDAR)
    assert uow.commits == 2
    [changed] = [e for e in uow.committed_events if isinstance(e.data, CalendarChanged)]
    assert changed.subject == "2027"
    assert await current_instant(uow, 2027) == datetime(2027, 5, 2, tzinfo=PARIS)
