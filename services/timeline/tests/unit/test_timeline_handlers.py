"""Moving the clock on an in-memory repository: what one transaction publishes and keeps."""

from __future__ import annotations

from datetime import datetime

import pytest
from ifuno_shared.calendar import PARIS, default_calendar
from ifuno_shared.events import Phase
from ifuno_shared.events.timeline import ClockAdvanced, PhaseStarted
from ifuno_timeline.adapters.repository import AbstractTimelineRepository
from ifuno_timeline.domain.clock import ClockWentBackwards
from ifuno_timeline.service_layer.handlers import current_instant, move_clock
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
