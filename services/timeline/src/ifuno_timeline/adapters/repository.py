"""Where the campaign's clock and announced phases are kept."""

from __future__ import annotations

import abc
from datetime import datetime

from ifuno_shared.calendar import in_paris
from ifuno_shared.events import Phase
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ifuno_timeline.adapters.tables import campaign_clock, published_phase


class AbstractTimelineRepository(abc.ABC):
    @abc.abstractmethod
    async def lock_clock(self, campaign: int) -> datetime | None:
        """The campaign's instant, locked until the transaction ends (one mover at a time)."""

    @abc.abstractmethod
    async def read_clock(self, campaign: int) -> datetime | None:
        """The campaign's instant, only read: no row written, no lock taken."""

    @abc.abstractmethod
    async def set_clock(self, campaign: int, now: datetime) -> None: ...

    @abc.abstractmethod
    async def published_phases(self, campaign: int) -> set[Phase]: ...

    @abc.abstractmethod
    async def mark_published(self, campaign: int, phase: Phase, at: datetime) -> None: ...


class SqlTimelineRepository(AbstractTimelineRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def lock_clock(self, campaign: int) -> datetime | None:
        await self._session.execute(
            insert(campaign_clock).values(campaign=campaign, now=None).on_conflict_do_nothing()
        )
        row = await self._session.execute(
            select(campaign_clock.c.now)
            .where(campaign_clock.c.campaign == campaign)
            .with_for_update()
        )
        now: datetime | None = row.scalar_one()
        return in_paris(now)

    async def read_clock(self, campaign: int) -> datetime | None:
        row = await self._session.execute(
            select(campaign_clock.c.now).where(campaign_clock.c.campaign == campaign)
        )
        now: datetime | None = row.scalar_one_or_none()
        return in_paris(now)

    async def set_clock(self, campaign: int, now: datetime) -> None:
        await self._session.execute(
            campaign_clock.update().where(campaign_clock.c.campaign == campaign).values(now=now)
        )

    async def published_phases(self, campaign: int) -> set[Phase]:
        rows = await self._session.execute(
            select(published_phase.c.phase).where(published_phase.c.campaign == campaign)
        )
        return {Phase(phase) for phase in rows.scalars()}

    async def mark_published(self, campaign: int, phase: Phase, at: datetime) -> None:
        await self._session.execute(
            published_phase.insert().values(campaign=campaign, phase=phase.value, published_at=at)
        )
