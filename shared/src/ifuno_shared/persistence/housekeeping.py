"""Pruning the outbox and the inbox, so neither grows for ever.

A delivered outbox row is kept a while (to look into what went out), then deleted; an
undelivered one (`published_at IS NULL`) never is. An inbox row is kept long enough to
outlive any redelivery of its event (docs/messaging.md, Housekeeping). Times are the
database's (`now()`): the windows are operational, not part of the simulated campaign.
Each statement deletes at most `batch_size` rows, in its own short transaction, and skips
rows another pruner holds, so no table is locked for long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Delete, Integer, Interval, Select, bindparam, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from ifuno_shared.persistence.tables import INBOX, OUTBOX, inbox_table, outbox_table


@dataclass(frozen=True)
class Windows:
    """How long delivered outbox rows and inbox rows are kept."""

    outbox: timedelta = timedelta(days=7)
    inbox: timedelta = timedelta(days=30)
    batch_size: int = 5000

    def __post_init__(self) -> None:
        if self.outbox <= timedelta(0) or self.inbox <= timedelta(0):
            raise ValueError("a housekeeping window must be longer than zero")
        if self.batch_size < 1:
            raise ValueError("a housekeeping batch holds at least one row")

    @classmethod
    def from_days(cls, outbox_days: float, inbox_days: float) -> Windows:
        """The settings' windows in days (fractions allowed: a test keeps rows seconds)."""
        return cls(outbox=timedelta(days=outbox_days), inbox=timedelta(days=inbox_days))


@dataclass(frozen=True)
class Pruned:
    """One pass: rows deleted per table, and the age of the oldest row left (None: empty)."""

    rows: dict[str, int]
    oldest: dict[str, timedelta | None]


_KEEP = bindparam("keep", type_=Interval)
_LIMIT = bindparam("limit", type_=Integer)


def _outbox_batch() -> Delete:
    """Delivered rows past the window, oldest first (the primary key's order)."""
    table = outbox_table
    expired = (
        select(table.c.id)
        .where(table.c.published_at.is_not(None), table.c.published_at < func.now() - _KEEP)
        .order_by(table.c.id)
        .limit(_LIMIT)
        .with_for_update(skip_locked=True)
    )
    return delete(table).where(table.c.id.in_(expired.scalar_subquery()))


def _inbox_batch() -> Delete:
    table = inbox_table
    expired = (
        select(table.c.consumer, table.c.event_id)
        .where(table.c.processed_at < func.now() - _KEEP)
        .limit(_LIMIT)
        .with_for_update(skip_locked=True)
    )
    return delete(table).where(tuple_(table.c.consumer, table.c.event_id).in_(expired))


_BATCHES = {OUTBOX: _outbox_batch(), INBOX: _inbox_batch()}
_OLDEST: dict[str, Select[Any]] = {
    OUTBOX: select(func.now() - func.min(outbox_table.c.created_at)),
    INBOX: select(func.now() - func.min(inbox_table.c.processed_at)),
}


async def prune_table(engine: AsyncEngine, table: str, keep: timedelta, batch_size: int) -> int:
    """Delete the expired rows of `table` (`outbox` or `inbox`), a batch per transaction,
    until a batch comes back short; return how many went."""
    total = 0
    while True:
        async with engine.begin() as connection:
            result = await connection.execute(_BATCHES[table], {"keep": keep, "limit": batch_size})
        deleted = int(result.rowcount)
        total += deleted
        if deleted < batch_size:
            return total


async def oldest_row(engine: AsyncEngine, table: str) -> timedelta | None:
    """How old the oldest row of `table` is, by the database's clock (None: no row)."""
    async with engine.connect() as connection:
        age: timedelta | None = await connection.scalar(_OLDEST[table])
    return age


async def prune(engine: AsyncEngine, windows: Windows) -> Pruned:
    """One pass over both tables."""
    keep = {OUTBOX: windows.outbox, INBOX: windows.inbox}
    rows = {
        table: await prune_table(engine, table, window, windows.batch_size)
        for table, window in keep.items()
    }
    oldest = {table: await oldest_row(engine, table) for table in keep}
    return Pruned(rows, oldest)
