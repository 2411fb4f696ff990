"""Moving the platform clock: the one command of the timeline."""

from __future__ import annotations

from datetime import datetime

from ifuno_shared.calendar import CampaignCalendar
from ifuno_shared.events import Phase

from ifuno_timeline.domain.clock import calendar_changed, plan_move
from ifuno_timeline.service_layer.unit_of_work import TimelineUnitOfWork


async def move_clock(
    uow: TimelineUnitOfWork, calendar: CampaignCalendar, now: datetime, *, announce: bool = False
) -> list[Phase]:
    """Announce every phase started by `now` not yet announced, in order, then the tick;
    all in one transaction with the new instant, so a restart neither repeats nor skips.
    With `announce`, the whole calendar first (it changed): the phases and the tick
    that follow are read against it."""
    campaign = calendar.campaign
    async with uow:
        previous = await uow.timeline.lock_clock(campaign)
        move = plan_move(calendar, previous, now, await uow.timeline.published_phases(campaign))
        if announce:
            uow.publish(calendar_changed(calendar), subject=str(campaign))
        for phase in move.phases:
            await uow.timeline.mark_published(campaign, phase.phase, now)
            uow.publish(phase, subject=phase.subject)
        uow.publish(move.tick, subject=move.tick.subject)
        await uow.timeline.set_clock(campaign, now)
        await uow.commit()
    return [phase.phase for phase in move.phases]


async def announce_calendar(uow: TimelineUnitOfWork, calendar: CampaignCalendar) -> None:
    """The whole calendar, without moving the clock (at start, or a change read while
    the clock stands still)."""
    async with uow:
        await uow.timeline.lock_clock(calendar.campaign)
        uow.publish(calendar_changed(calendar), subject=str(calendar.campaign))
        await uow.commit()


async def current_instant(uow: TimelineUnitOfWork, campaign: int) -> datetime | None:
    """Only reads (the public calendar asks it): never waits for a move in progress."""
    async with uow:
        return await uow.timeline.read_clock(campaign)
