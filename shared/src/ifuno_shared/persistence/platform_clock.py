"""The platform clock kept in the service's own database (`platform_clock`, `platform_phase`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ifuno_shared.calendar import PARIS
from ifuno_shared.clock import AbstractPlatformClock
from ifuno_shared.events.base import Phase
from ifuno_shared.events.timeline import PhaseStarted
from ifuno_shared.persistence.tables import platform_clock_table, platform_phase_table


class SqlPlatformClock(AbstractPlatformClock):
    """One transaction's clock: `now` is read once, then kept (and updated by the
    transaction's own moves), since a consumer batch asks it for every event."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._read: tuple[datetime | None] | None = None

    async def now(self) -> datetime | None:
        if self._read is None:
            row = await self._session.execute(
                select(platform_clock_table.c.now).where(platform_clock_table.c.id == 1)
            )
            now: datetime | None = row.scalar_one_or_none()
            self._read = (None if now is None else now.astimezone(PARIS),)
        return self._read[0]

    async def _store_now(self, campaign: int, now: datetime) -> None:
        statement = insert(platform_clock_table).values(id=1, campaign=campaign, now=now)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[platform_clock_table.c.id],
                set_={"campaign": campaign, "now": now},
            )
        )
        self._read = (now.astimezone(PARIS),)

    async def _phases(self, campaign: int) -> dict[Phase, tuple[datetime, datetime]]:
        table = platform_phase_table
        rows = await self._session.execute(
            select(table.c.phase, table.c.starts_at, table.c.ends_at).where(
                table.c.campaign == campaign
            )
        )
        return {
            Phase(phase): (starts.astimezone(PARIS), ends.astimezone(PARIS))
            for phase, starts, ends in rows
        }

    async def _store_phase(self, event: PhaseStarted) -> bool:
        statement = (
            insert(platform_phase_table)
            .values(
                campaign=event.campaign,
                phase=event.phase.value,
                starts_at=event.starts_at,
                ends_at=event.ends_at,
            )
            .on_conflict_do_nothing()
            .returning(platform_phase_table.c.phase)
        )
        result = await self._session.execute(statement)
        return result.first() is not None
