"""Reading and writing the dashboard's read model."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ifuno_dashboard.adapters.tables import (
    application_view,
    dead_letter,
    message_count,
    places_point,
)
from ifuno_dashboard.domain.projection import ApplicationView

VIEW_FIELDS = [f.name for f in fields(ApplicationView)]


class DashboardRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, application_id: str) -> ApplicationView:
        row = (
            (
                await self._session.execute(
                    select(application_view)
                    .where(application_view.c.application_id == application_id)
                    .with_for_update()
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return ApplicationView(application_id)
        return ApplicationView(**{name: row[name] for name in VIEW_FIELDS})

    async def save(self, view: ApplicationView) -> None:
        values = asdict(view)
        await self._session.execute(
            insert(application_view)
            .values(values)
            .on_conflict_do_update(
                index_elements=["application_id"],
                set_={k: v for k, v in values.items() if k != "application_id"},
            )
        )

    async def held(self, campaign: int, level: str) -> int:
        return int(
            await self._session.scalar(
                select(func.count()).where(
                    application_view.c.campaign == campaign,
                    application_view.c.level == level,
                    application_view.c.holding.is_not(None),
                )
            )
            or 0
        )

    async def add_point(self, campaign: int, level: str, at: datetime, held: int) -> None:
        await self._session.execute(
            places_point.insert().values(campaign=campaign, level=level, at=at, held=held)
        )

    async def count_message(self, channel: str, template: str, outcome: str) -> None:
        await self._session.execute(
            insert(message_count)
            .values(channel=channel, template=template, outcome=outcome, count=1)
            .on_conflict_do_update(
                index_elements=["channel", "template", "outcome"],
                set_={"count": message_count.c.count + 1},
            )
        )

    async def add_dead_letter(self, **values: Any) -> None:
        await self._session.execute(insert(dead_letter).values(**values).on_conflict_do_nothing())


async def read_views(session: AsyncSession, campaign: int) -> list[ApplicationView]:
    rows = await session.execute(
        select(application_view).where(application_view.c.campaign == campaign)
    )
    return [ApplicationView(**{n: r[n] for n in VIEW_FIELDS}) for r in rows.mappings()]


async def read_points(session: AsyncSession, campaign: int) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(places_point.c.level, places_point.c.at, places_point.c.held)
        .where(places_point.c.campaign == campaign)
        .order_by(places_point.c.at, places_point.c.id)
    )
    return [dict(row) for row in rows.mappings()]


async def read_messages(session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.execute(select(message_count).order_by(message_count.c.template))
    return [dict(row) for row in rows.mappings()]


async def read_dead_letters(session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(dead_letter.c.consumer, dead_letter.c.error, func.count().label("count"))
        .group_by(dead_letter.c.consumer, dead_letter.c.error)
        .order_by(func.count().desc())
    )
    return [dict(row) for row in rows.mappings()]
