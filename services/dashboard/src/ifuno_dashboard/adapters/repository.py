"""Reading and writing the dashboard's read model."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, func, select
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession

from ifuno_dashboard.adapters.tables import (
    application_view,
    dead_letter,
    message_count,
    places_point,
)
from ifuno_dashboard.domain.projection import ApplicationView

VIEW_FIELDS = [f.name for f in fields(ApplicationView)]


def _upsert_views() -> Insert:
    statement = insert(application_view)
    return statement.on_conflict_do_update(
        index_elements=[application_view.c.application_id],
        set_={name: statement.excluded[name] for name in VIEW_FIELDS if name != "application_id"},
    )


def _add_messages() -> Insert:
    """Adds each row's count: a transaction's messages of one kind, counted in memory."""
    statement = insert(message_count)
    return statement.on_conflict_do_update(
        index_elements=[message_count.c.channel, message_count.c.template, message_count.c.outcome],
        set_={"count": message_count.c.count + statement.excluded.count},
    )


_UPSERT_VIEWS = _upsert_views()
_ADD_MESSAGES = _add_messages()


def _view(row: RowMapping) -> ApplicationView:
    return ApplicationView(**{name: row[name] for name in VIEW_FIELDS})


class DashboardRepository:
    """One transaction's read model. A consumer batch holds several events of one
    application and many notifications, and each statement is a compile and a round
    trip: a view read once is kept (locked, and frozen so it is shared, not copied),
    `prefetch` reads a batch's views at once, and writes wait for `flush`, one
    statement per table."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._views: dict[str, ApplicationView] = {}
        self._unsaved: dict[str, ApplicationView] = {}
        self._points: list[dict[str, Any]] = []
        self._messages: Counter[tuple[str, str, str]] = Counter()

    async def get(self, application_id: str) -> ApplicationView:
        if application_id in self._views:
            return self._views[application_id]
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
        view = ApplicationView(application_id) if row is None else _view(row)
        self._views[application_id] = view
        return view

    async def prefetch(self, application_ids: Iterable[str]) -> None:
        """The views `get` is about to read, in one statement instead of one each:
        locked in a stable order (two batches cannot deadlock on them), and an id with
        no row kept as an empty view, as `get` would. A view already kept stays."""
        wanted = sorted(set(application_ids) - self._views.keys())
        if not wanted:
            return
        rows = await self._session.execute(
            select(application_view)
            .where(application_view.c.application_id.in_(wanted))
            .order_by(application_view.c.application_id)
            .with_for_update()
        )
        for row in rows.mappings():
            self._views[row["application_id"]] = _view(row)
        for application_id in wanted:
            self._views.setdefault(application_id, ApplicationView(application_id))

    def save(self, view: ApplicationView) -> None:
        """Kept until `flush` (keyed by application: the last view of each is written)."""
        self._views[view.application_id] = view
        self._unsaved[view.application_id] = view

    async def held(self, campaign: int, level: str) -> int:
        """Counted in the database, so the views kept back are written first."""
        await self._flush_views()
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

    def add_point(self, campaign: int, level: str, at: datetime, held: int) -> None:
        self._points.append({"campaign": campaign, "level": level, "at": at, "held": held})

    def count_message(self, channel: str, template: str, outcome: str) -> None:
        self._messages[channel, template, outcome] += 1

    async def flush(self) -> None:
        """Write what the transaction kept back (the unit of work calls it before commit)."""
        await self._flush_views()
        if self._points:
            await self._session.execute(places_point.insert(), self._points)
            self._points = []
        if self._messages:
            await self._session.execute(
                _ADD_MESSAGES,
                [
                    {"channel": channel, "template": template, "outcome": outcome, "count": count}
                    for (channel, template, outcome), count in self._messages.items()
                ],
            )
            self._messages.clear()

    async def _flush_views(self) -> None:
        if self._unsaved:
            await self._session.execute(
                _UPSERT_VIEWS, [asdict(view) for view in self._unsaved.values()]
            )
            self._unsaved.clear()

    async def add_dead_letter(self, **values: Any) -> None:
        await self._session.execute(insert(dead_letter).values(**values).on_conflict_do_nothing())


async def read_views(session: AsyncSession, campaign: int) -> list[ApplicationView]:
    rows = await session.execute(
        select(application_view).where(application_view.c.campaign == campaign)
    )
    return [_view(row) for row in rows.mappings()]


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
