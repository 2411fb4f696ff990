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
    """The campaign's clock: real, or simulated and moved forward on request.

    The calendar file is read again before every move (and, while a simulated clock
    stands still, every `tick_seconds`): a changed calendar is announced whole
    (`calendar_changed`) before the move, and the phases follow the new dates. A file
    that became invalid is reported in the log and the calendar in force is kept."""

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
        self._announced: CampaignCalendar | None = None
        """The calendar last announced by this process (None: not yet, so at start)."""
        self._file_error: str | None = None
        self._context: ServiceContext | None = None
        self._lock = asyncio.Lock()

    def calendar_for(self, year: int) -> CampaignCalendar:
        """The campaign's calendar in force (the one announced); another year's from
        the file as it is."""
        if year == self.campaign:
            return self.calendar
        return load_calendar(year, self.settings.calendar_file)

    def _reload(self) -> CampaignCalendar:
        try:
            self.calendar = load_calendar(self.campaign, self.settings.calendar_file)
        except InvalidCalendar as exc:
            if str(exc) != self._file_error:
                log.error("IFUNO_TIMELINE_CALENDAR_FILE: %s; the calendar in force is kept", exc)
            self._file_error = str(exc)
        else:
            self._file_error = None
        return self.calendar

    async def move(self, now: datetime) -> list[Phase]:
        assert self._context is not None
        async with self._lock:
            calendar = self._reload()
            changed = calendar != self._announced
            phases = await handlers.move_clock(
                self._context.uow_factory(), calendar, now, announce=changed
            )
            self._calendar_announced(calendar, changed)
        for phase in phases:
            log.info("campaign %s: phase %s started", self.campaign, phase.value)
        return phases

    async def refresh(self) -> None:
        """Announce the calendar if the file changed it, without moving the clock."""
        assert self._context is not None
        async with self._lock:
            calendar = self._reload()
            if calendar != self._announced:
                await handlers.announce_calendar(self._context.uow_factory(), calendar)
                self._calendar_announced(calendar, True)

    def _calendar_announced(self, calendar: CampaignCalendar, changed: bool) -> None:
        if changed:
            log.info("campaign %s: calendar announced", self.campaign)
        self._announced = calendar

    async def now(self, campaign: int) -> datetime | None:
        assert self._context is not None
        return await handlers.current_instant(self._context.uow_factory(), campaign)

    async def start(self, context: ServiceContext) -> None:
        """Resume where the clock was (a simulated clock) or catch up with the real time,
        announcing the calendar and whatever phase started meanwhile."""
        self._context = context
        current = await self.now(self.campaign)
        if self.simulated:
            if current is None:
                assert self.settings.clock_start is not None
                await self.move(self.settings.clock_start)
            else:
                await self.refresh()
        else:
            await self.move(max(datetime.now(PARIS), current or datetime.now(PARIS)))

    async def tick(self, context: ServiceContext) -> None:
        """The real clock once a minute; an accelerated simulated clock every tick; a
        simulated clock moved only by hand looks at the calendar file every tick."""
        interval = self.settings.tick_seconds if self.simulated else self.settings.real_tick_seconds
        while True:
            await asyncio.sleep(interval)
            if self.simulated and self.settings.clock_speed == 0:
                await self.refresh()
            elif self.simulated:
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
