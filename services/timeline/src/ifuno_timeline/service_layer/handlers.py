"""Moving the platform clock: the one command of the timeline."""

from __future__ import annotations

from datetime import datetime

from ifuno_shared.calendar import CampaignCalendar
from ifuno_shared.events import Phase

from ifuno_timeline.domain.clock import plan_move
from ifuno_timeline.service_layer.unit_of_work import TimelineUnitOfWork


async def move_clock(
    uow: TimelineUnitOfWork, calendar: CampaignCalendar, now: datetime
) -> list[Phase]:
    """Announce every phase started by `now` not yet announced, in order, then the tick;
    all in one transaction with the new instant, so a restart neither repeats nor skips."""
    campaign = calendar.campaign
    async with uow:
        previous = await uow.timeline.lock_clock(campaign)
        move = plan_move(calendar, previous, now, await uow.timeline.published_phases(campaign))
        for phase in move.phases:
            await uow.timeline.mark_published(campaign, phase.phase, now)
            uow.publish(phase, subject=phase.subject)
        uow.publish(move.tick, subject=move.tick.subject)
        await uow.timeline.set_clock(campaign, now)
        await uow.commit()
    return [phase.phase for phase in move.phases]


async def current_instant(uow: TimelineUnitOfWork, campaign: int) -> datetime | None:
    """Only reads (the public calendar asks it): never waits for a move in progress."""
    async with uow:
        return await uow.timeline.read_clock(campaign)
