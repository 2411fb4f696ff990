"""The timeline service: its clock, its calendar, its HTTP API, as one runnable definition."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path

from ifuno_shared.calendar import PARIS, CampaignCalendar, InvalidCalendar
from ifuno_shared.events import Phase
from ifuno_shared.runtime import ConfigurationError, ServiceContext, ServiceDefinition

from ifuno_timeline.adapters.calendar_file import load_calendar
from ifuno_timeline.config import TimelineSettings
from ifuno_timeline.entrypoints.http import build_router
from ifuno_timeline.service_layer import handlers
from ifuno_timeline.service_layer.unit_of_work import SqlTimelineUnitOfWork

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent.parent / "adapters" / "migrations"


class Timeline:
    """The campaign's clock: real, or simulated and moved forward on request."""

    def __init__(self, settings: TimelineSettings) -> None:
        self.settings = settings
        self.simulated = settings.clock == "simulated"
        if self.simulated and settings.clock_start is None:
            raise ConfigurationError(
                "IFUNO_CLOCK_START is missing (needed with IFUNO_CLOCK=simulated)"
            )
        start = settings.clock_start if self.simulated else datetime.now(PARIS)
        assert start is not None
        self.campaign = settings.campaign or start.astimezone(PARIS).year
        try:
            self.calendar = load_calendar(self.campaign, settings.calendar_file)
        except InvalidCalendar as exc:
            raise ConfigurationError(
                f"IFUNO_TIMELINE_CALENDAR_FILE ({settings.calendar_file}): {exc}"
            ) from exc
        self._context: ServiceContext | None = None
        self._lock = asyncio.Lock()

    def calendar_for(self, year: int) -> CampaignCalendar:
        return load_calendar(year, self.settings.calendar_file)

    async def move(self, now: datetime) -> list[Phase]:
        assert self._context is not None
        async with self._lock:
            phases = await handlers.move_clock(self._context.uow_factory(), self.calendar, now)
        for phase in phases:
            log.info("campaign %s: phase %s started", self.campaign, phase.value)
        return phases

    async def now(self, campaign: int) -> datetime | None:
        assert self._context is not None
        return await handlers.current_instant(self._context.uow_factory(), campaign)

    async def start(self, context: ServiceContext) -> None:
        """Resume where the clock was (a simulated clock) or catch up with the real time,
        announcing whatever phase started meanwhile."""
        self._context = context
        current = await self.now(self.campaign)
        if self.simulated:
            if current is None:
                assert self.settings.clock_start is not None
                await self.move(self.settings.clock_start)
        else:
            await self.move(max(datetime.now(PARIS), current or datetime.now(PARIS)))

    async def tick(self, context: ServiceContext) -> None:
        """The real clock once a minute; an accelerated simulated clock every tick."""
        if self.simulated and self.settings.clock_speed == 0:
            return
        interval = self.settings.tick_seconds if self.simulated else self.settings.real_tick_seconds
        while True:
            await asyncio.sleep(interval)
            if self.simulated:
                current = await self.now(self.campaign)
                assert current is not None
                await self.move(current + timedelta(seconds=interval * self.settings.clock_speed))
            else:
                await self.move(datetime.now(PARIS))


def build_definition(settings: TimelineSettings) -> ServiceDefinition:
    timeline = Timeline(settings)

    async def tick(context: ServiceContext) -> None:
        await timeline.tick(context)

    return ServiceDefinition(
        name="timeline",
        settings=settings,
        migrations_dir=MIGRATIONS_DIR,
        uow_class=SqlTimelineUnitOfWork,
        routers=lambda context: [
            build_router(
                timeline.campaign,
                timeline.calendar_for,
                timeline.move,
                timeline.now,
                timeline.simulated,
            )
        ],
        on_startup=[timeline.start],
        background=[tick],
    )
