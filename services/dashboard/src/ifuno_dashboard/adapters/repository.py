"""Reading and writing the dashboard's read model."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any, Protocol

from ifuno_shared.events.base import Level, Phase
from ifuno_shared.persistence.repository import (
    TrackingRepository,
    among,
    execute_on_custom_plan,
    upsert,
)
from sqlalchemy import RowMapping, bindparam, delete, func, select, tuple_, update
from sqlalchemy.dialects.postgresql import Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession

from ifuno_dashboard.adapters.tables import (
    application_event,
    application_view,
    campaign_phase,
    dead_letter,
    erasure,
    level_places,
    message_count,
    places_point,
)
from ifuno_dashboard.domain.projection import ApplicationView

VIEW_FIELDS = [f.name for f in fields(ApplicationView)]


def _add_messages() -> Insert:
    """Adds each row's count: a transaction's messages of one kind, counted in memory."""
    statement = insert(message_count)
    return statement.on_conflict_do_update(
        index_elements=[message_count.c.channel, message_count.c.template, message_count.c.outcome],
        set_={"count": message_count.c.count + statement.excluded.count},
    )


_UPSERT_VIEWS = upsert(application_view, "application_id", tuple(VIEW_FIELDS))
_ADD_MESSAGES = _add_messages()
_COUNT_PLACES = (
    update(level_places)
    .where(
        level_places.c.campaign == bindparam("b_campaign"),
        level_places.c.level == bindparam("b_level"),
        # Never back to an older count, whatever wrote the row meanwhile.
        level_places.c.places_change.is_(None)
        | (level_places.c.places_change < bindparam("b_change")),
    )
    .values(places_change=bindparam("b_change"), places_held=bindparam("b_held"))
)

LevelKey = tuple[int, Level]
Count = tuple[int, int]
"""Selection's count of a level's places: (`places_change`, `places_held`)."""


def _view(row: RowMapping) -> ApplicationView:
    values = {name: row[name] for name in VIEW_FIELDS}
    level = values.pop("level")
    return ApplicationView(**values, level=None if level is None else Level(level))


def _place(view: ApplicationView) -> tuple[int, Level] | None:
    """The campaign and level whose places the view holds, if it holds one."""
    if view.holding is None or view.campaign is None or view.level is None:
        return None
    return view.campaign, view.level


class ReadModel(Protocol):
    """The read model as the handlers see it (the SQL one below, or a fake)."""

    async def get(self, application_id: str) -> ApplicationView:
        """The application's view (an empty one before its first event)."""

    async def save(self, view: ApplicationView) -> None: ...

    async def held(self, campaign: int, level: Level) -> int:
        """The places held at this level, counting the views saved in this transaction."""

    def add_point(self, campaign: int, level: Level, at: datetime, held: int) -> None: ...

    async def counted(self, campaign: int, level: Level, *, lock: bool = True) -> Count | None:
        """Selection's newest count of the level's places read so far (None before any
        event carrying one); locked until the commit unless `lock` is False (to know
        whether there is one, not to change it)."""

    def count_places(self, campaign: int, level: Level, count: Count) -> None:
        """Selection's count of the level's places from now on (a newer one)."""

    def count_message(self, channel: str, template: str, outcome: str) -> None: ...

    async def forget_dead_letters(self, key: str) -> bool:
        """Delete the dead letters recorded for this key; True if there were any."""

    async def confirm_erasure(self, application_id: str, service: str, at: datetime) -> None:
        """Record that `service` holds nothing more about this application."""

    def log_event(self, entry: dict[str, Any]) -> None:
        """One line of an application's history (`domain/history.py`)."""

    async def announce_calendar(
        self, campaign: int, phases: list[tuple[Phase, datetime, datetime]]
    ) -> None:
        """The campaign's calendar from now on (the timeline's whole announcement)."""


class DashboardRepository(TrackingRepository[str, ApplicationView]):
    """One transaction's read model. A consumer batch holds several events of one
    application and many notifications, and each statement is a compile and a round
    trip: `prefetch` reads (and locks) a batch's views at once, and the views, points
    and message counts are written at flush, one statement per table. The places held
    per level are counted once per transaction, then kept up to date as views are
    saved, so a point costs no statement (a count would flush everything first).
    Selection's counts of the levels' places are read (and locked) once per transaction,
    after the views: the points of a level are added one transaction at a time."""

    copies = staticmethod(lambda view: view)
    """Views are frozen: shared, not copied."""

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self._held: dict[LevelKey, int] = {}
        self._counted: dict[LevelKey, Count | None] = {}
        self._counts: dict[LevelKey, Count] = {}
        self._uncounted: set[LevelKey] = set()
        """Levels read with no count and not locked: a view's point costs no statement."""
        self._points: list[dict[str, Any]] = []
        self._messages: Counter[tuple[str, str, str]] = Counter()
        self._log: list[dict[str, Any]] = []

    def _key(self, aggregate: ApplicationView) -> str:
        return aggregate.application_id

    async def _load(self, keys: list[str]) -> dict[str, ApplicationView]:
        rows = await execute_on_custom_plan(
            self.session,
            select(application_view)
            .where(among(application_view.c.application_id, keys))
            .order_by(application_view.c.application_id)
            .with_for_update(),
        )
        return {row["application_id"]: _view(row) for row in rows.mappings()}

    async def _write(self, aggregates: list[ApplicationView], stored: set[str]) -> None:
        await self.session.execute(_UPSERT_VIEWS, [asdict(view) for view in aggregates])

    async def get(self, application_id: str) -> ApplicationView:
        """An application with no row has an empty view: events come in any order."""
        return await super().get(application_id) or ApplicationView(application_id)

    async def save(self, view: ApplicationView) -> None:
        before = _place(await self.get(view.application_id))
        after = _place(view)
        await super().save(view)
        if before != after:
            for place, change in ((before, -1), (after, 1)):
                if place in self._held:
                    self._held[place] += change

    async def held(self, campaign: int, level: Level) -> int:
        place = (campaign, level)
        if place not in self._held:
            self._held[place] = int(
                (
                    await self.execute(
                        select(func.count()).where(
                            application_view.c.campaign == campaign,
                            application_view.c.level == level.value,
                            application_view.c.holding.is_not(None),
                        )
                    )
                ).scalar_one()
            )
        return self._held[place]

    def add_point(self, campaign: int, level: Level, at: datetime, held: int) -> None:
        self._points.append({"campaign": campaign, "level": level.value, "at": at, "held": held})

    async def counted(self, campaign: int, level: Level, *, lock: bool = True) -> Count | None:
        if lock or (campaign, level) in self._counted:
            await self.prefetch_counts([(campaign, level)])
            return self._counted[campaign, level]
        if (campaign, level) in self._uncounted:
            return None
        rows = await self.execute(
            select(level_places).where(
                level_places.c.campaign == campaign, level_places.c.level == level.value
            )
        )
        row = rows.mappings().first()
        if row is None or row["places_change"] is None:
            self._uncounted.add((campaign, level))
            return None
        return row["places_change"], row["places_held"]

    async def prefetch_counts(self, places: Iterable[LevelKey]) -> None:
        """The levels' counts, locked in a stable order (two transactions never wait on
        each other in a cycle); a level's row is made, empty, on first use."""
        wanted = sorted(set(places) - self._counted.keys())
        if not wanted:
            return
        keys = [{"campaign": campaign, "level": level.value} for campaign, level in wanted]
        await self.execute(insert(level_places).on_conflict_do_nothing(), keys)
        rows = await self.execute(
            select(level_places)
            .where(
                tuple_(level_places.c.campaign, level_places.c.level).in_(
                    [(campaign, level.value) for campaign, level in wanted]
                )
            )
            .order_by(level_places.c.campaign, level_places.c.level)
            .with_for_update()
        )
        for row in rows.mappings():
            change = row["places_change"]
            count = None if change is None else (change, row["places_held"])
            self._counted[row["campaign"], Level(row["level"])] = count

    def count_places(self, campaign: int, level: Level, count: Count) -> None:
        self._counted[campaign, level] = self._counts[campaign, level] = count

    def count_message(self, channel: str, template: str, outcome: str) -> None:
        self._messages[channel, template, outcome] += 1

    def log_event(self, entry: dict[str, Any]) -> None:
        self._log.append(entry)

    async def flush(self) -> None:
        await super().flush()
        points, self._points = self._points, []
        if points:
            await self.session.execute(places_point.insert(), points)
        counts, self._counts = self._counts, {}
        if counts:
            await self.session.execute(
                _COUNT_PLACES,
                [
                    {"b_campaign": campaign, "b_level": level.value, "b_change": c, "b_held": h}
                    for (campaign, level), (c, h) in counts.items()
                ],
            )
        messages, self._messages = self._messages, Counter()
        if messages:
            await self.session.execute(
                _ADD_MESSAGES,
                [
                    {"channel": channel, "template": template, "outcome": outcome, "count": count}
                    for (channel, template, outcome), count in messages.items()
                ],
            )

        log, self._log = self._log, []
        if log:
            await self.session.execute(insert(application_event).on_conflict_do_nothing(), log)

    def seen(self) -> Iterator[ApplicationView]:
        """A read model raises no events: none to publish."""
        return iter(())

    async def announce_calendar(
        self, campaign: int, phases: list[tuple[Phase, datetime, datetime]]
    ) -> None:
        await self.execute(delete(campaign_phase).where(campaign_phase.c.campaign == campaign))
        if phases:
            await self.execute(
                insert(campaign_phase),
                [
                    {"campaign": campaign, "phase": p.value, "starts_at": s, "ends_at": e}
                    for p, s, e in phases
                ],
            )

    async def add_dead_letter(self, **values: Any) -> None:
        await self.execute(insert(dead_letter).values(**values).on_conflict_do_nothing())

    async def forget_dead_letters(self, key: str) -> bool:
        """Delete the dead letters recorded for this key; True if there were any."""
        gone = await self.execute(
            delete(dead_letter).where(dead_letter.c.key == key).returning(dead_letter.c.key)
        )
        return gone.first() is not None

    async def confirm_erasure(self, application_id: str, service: str, at: datetime) -> None:
        await self.execute(
            insert(erasure)
            .values(application_id=application_id, service=service, confirmed_at=at)
            .on_conflict_do_nothing()
        )


async def read_views(session: AsyncSession, campaign: int) -> list[ApplicationView]:
    rows = await session.execute(
        select(application_view).where(application_view.c.campaign == campaign)
    )
    return [_view(row) for row in rows.mappings()]


async def read_calendar(session: AsyncSession, campaign: int) -> dict[Phase, datetime]:
    """Each phase's start as the timeline last announced it (empty before it did)."""
    rows = await session.execute(
        select(campaign_phase.c.phase, campaign_phase.c.starts_at).where(
            campaign_phase.c.campaign == campaign
        )
    )
    return {Phase(row.phase): row.starts_at for row in rows}


async def read_points(session: AsyncSession, campaign: int) -> list[dict[str, Any]]:
    rows = await session.execute(
        select(places_point.c.level, places_point.c.at, places_point.c.held)
        .where(places_point.c.campaign == campaign)
        .order_by(places_point.c.at, places_point.c.id)
    )
    return [dict(row) for row in rows.mappings()]


async def read_place_counts(session: AsyncSession, campaign: int) -> dict[Level, int]:
    """The places held of each level as selection last counted them (a level whose
    events carried no count yet is not there)."""
    rows = await session.execute(
        select(level_places.c.level, level_places.c.places_held).where(
            level_places.c.campaign == campaign, level_places.c.places_held.is_not(None)
        )
    )
    return {Level(row.level): row.places_held for row in rows}


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


async def read_erasures(session: AsyncSession, application_id: str) -> dict[str, datetime]:
    """Which services confirmed the erasure of this application, and when."""
    rows = await session.execute(
        select(erasure.c.service, erasure.c.confirmed_at).where(
            erasure.c.application_id == application_id
        )
    )
    return {row.service: row.confirmed_at for row in rows}


async def count_erasures(session: AsyncSession) -> int:
    """Applications erased on request (candidature confirmed), whatever the campaign."""
    found = await session.scalar(
        select(func.count()).select_from(erasure).where(erasure.c.service == "candidature")
    )
    return int(found or 0)


async def read_view(session: AsyncSession, application_id: str) -> ApplicationView | None:
    row = (
        (
            await session.execute(
                select(application_view).where(application_view.c.application_id == application_id)
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else _view(row)


async def read_history(session: AsyncSession, application_id: str) -> list[dict[str, Any]]:
    """Every logged event of the application, in time order."""
    rows = await session.execute(
        select(application_event)
        .where(application_event.c.application_id == application_id)
        .order_by(application_event.c.time, application_event.c.event_id)
    )
    return [dict(row) for row in rows.mappings()]


async def read_failed_messages(session: AsyncSession, limit: int = 200) -> list[dict[str, Any]]:
    """The latest failed messages (application, channel, template, when), newest first."""
    rows = await session.execute(
        select(application_event)
        .where(application_event.c.type == "ifuno.notification.failed.v1")
        .order_by(application_event.c.time.desc())
        .limit(limit)
    )
    return [dict(row) for row in rows.mappings()]


async def read_dead_letter_list(session: AsyncSession, limit: int = 200) -> list[dict[str, Any]]:
    """Each dead letter, newest first, with where it is and whether it was re-driven."""
    rows = await session.execute(
        select(dead_letter).order_by(dead_letter.c.seen_at.desc()).limit(limit)
    )
    return [dict(row) for row in rows.mappings()]


async def mark_redriven(session: AsyncSession, key: dict[str, Any], by: str, at: datetime) -> None:
    await session.execute(
        dead_letter.update()
        .where(*(dead_letter.c[name] == value for name, value in key.items()))
        .values(redriven_at=at, redriven_by=by)
    )
