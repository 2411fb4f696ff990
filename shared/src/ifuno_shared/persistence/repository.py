"""One repository helper for every service: read once, keep, write at flush.

Under a burst a consumer batch applies hundreds of events in one transaction, and a
statement per event is a compile and a round trip. A `TrackingRepository` keeps the
aggregates one transaction has read (locked) or saved, hands out copies (a change a
handler does not save stays out), and writes the saved ones at `flush`. It cannot
forget a flush: every query goes through `execute`, which first flushes every
repository of the session, and the unit of work flushes them all before it commits.
It also remembers the aggregates saved, whose new events the unit of work collects at
commit (cosmicpython's `collect_new_events`); one handed out, changed (it raised
events) and never saved stops the commit (`UnsavedChanges`).
"""

from __future__ import annotations

import abc
import copy
import functools
import re
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import (
    ColumnElement,
    Executable,
    Result,
    String,
    Table,
    any_,
    bindparam,
    literal_column,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, Insert, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from ifuno_shared.events import EventData

_REPOSITORIES = "ifuno_repositories"


class Aggregate(Protocol):
    """What the unit of work needs of an aggregate: the events it has raised."""

    events: list[EventData]


A = TypeVar("A")
K = TypeVar("K")


async def flush_session(session: AsyncSession) -> None:
    """Write what every repository of this session holds back."""
    for repository in session.info.get(_REPOSITORIES, ()):
        await repository.flush()


def repositories_of(session: AsyncSession) -> list[TrackingRepository[Any, Any]]:
    return list(session.info.get(_REPOSITORIES, ()))


class TrackingRepository(abc.ABC, Generic[K, A]):
    """Subclasses say how to read (`_load`), key (`_key`) and write (`_write`) their
    aggregate; queries of their own use `execute`. `_load` locks what it reads."""

    copies: Callable[[Any], Any] = staticmethod(copy.deepcopy)
    """How a handler's copy is made (override with a cheaper copy where it is safe)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._known: dict[K, A | None] = {}
        self._unsaved: dict[K, A] = {}
        self._new: set[K] = set()
        self._handed: dict[int, A] = {}
        self._saved: dict[int, A] = {}
        session.info.setdefault(_REPOSITORIES, []).append(self)

    @abc.abstractmethod
    def _key(self, aggregate: A) -> K: ...

    @abc.abstractmethod
    async def _load(self, keys: list[K]) -> dict[K, A]:
        """Read (and lock, in a stable order) the stored aggregates of these keys."""

    @abc.abstractmethod
    async def _write(self, aggregates: list[A], stored: set[K]) -> None:
        """Write the saved aggregates; `stored` are the keys already in the database."""

    async def prefetch(self, keys: Iterable[K]) -> None:
        """Read many aggregates in one go: later `get`s of them run no statement."""
        wanted = [key for key in dict.fromkeys(keys) if key not in self._known]
        if not wanted:
            return
        await flush_session(self.session)
        found = await self._load(wanted)
        for key in wanted:
            self._known[key] = found.get(key)

    async def get(self, key: K) -> A | None:
        await self.prefetch([key])
        known = self._known[key]
        return None if known is None else self._hand_out(known)

    async def get_many(self, keys: Iterable[K]) -> list[A]:
        keys = list(keys)
        await self.prefetch(keys)
        return [self._hand_out(k) for key in keys if (k := self._known[key]) is not None]

    def _hand_out(self, aggregate: A) -> A:
        handed = type(self).copies(aggregate)
        self._handed[id(handed)] = handed
        return handed

    async def save(self, aggregate: A) -> None:
        """Keep the aggregate as saved: written at the next flush. Its events stay
        with the object the handler holds, which the unit of work collects."""
        key = self._key(aggregate)
        if key not in self._known:
            await self.prefetch([key])
        if self._known[key] is None:
            self._new.add(key)
        self._keep(aggregate, key)

    def add(self, aggregate: A) -> None:
        """A new aggregate (not read before): kept like a save."""
        key = self._key(aggregate)
        self._new.add(key)
        self._keep(aggregate, key)

    def _keep(self, aggregate: A, key: K) -> None:
        self._saved[id(aggregate)] = aggregate
        self._known[key] = self._unsaved[key] = without_events(type(self).copies(aggregate))

    async def flush(self) -> None:
        if not self._unsaved:
            return
        unsaved, self._unsaved = self._unsaved, {}
        stored = {key for key in unsaved if key not in self._new}
        self._new -= unsaved.keys()
        await self._write(list(unsaved.values()), stored)

    def forget(self, which: Callable[[A], bool]) -> None:
        """After a bulk statement changed stored rows: read those aggregates again."""
        self._known = {
            key: known
            for key, known in self._known.items()
            if known is None or key in self._unsaved or not which(known)
        }

    async def execute(self, statement: Executable, parameters: Any = None) -> Result[Any]:
        """Every query of a repository: what any repository holds back is written first."""
        await flush_session(self.session)
        return await self.session.execute(statement, parameters)

    def seen(self) -> Iterator[A]:
        """The aggregates saved or added, whose events the unit of work publishes."""
        check_saved(self._handed.values(), self._saved)
        return iter(self._saved.values())


class UnsavedChanges(RuntimeError):
    """An aggregate raised events but was never saved: its state and its events would
    disagree. A programming error, raised at commit, so nothing is written."""


def check_saved(handed_out: Iterable[Any], saved: Collection[int]) -> None:
    for aggregate in handed_out:
        if id(aggregate) not in saved and getattr(aggregate, "events", None):
            raise UnsavedChanges(f"{type(aggregate).__name__} raised events but was not saved")


def without_events(kept: A) -> A:
    """The copy a repository keeps: the events stay with the object that raised them
    (collected once at commit), never in what a later `get` hands out again."""
    if hasattr(kept, "events"):
        kept.events = []
    return kept


def one_of(column: ColumnElement[str], constants: Iterable[str]) -> ColumnElement[bool]:
    """`column IN ('a', 'b')` with the constants written into the SQL, not bound: a
    prepared statement's generic plan can then use a partial index whose predicate is
    that list (with parameters PostgreSQL cannot tell, and scans the table)."""
    values = sorted(constants)
    if not all(SQL_CONSTANT.fullmatch(value) for value in values):
        raise ValueError("one_of takes constants of the code, not data")
    return column.in_([literal_column(f"'{value}'") for value in values])


SQL_CONSTANT = re.compile(r"[a-z_]+")


def among(column: ColumnElement[str], values: Collection[str]) -> ColumnElement[bool]:
    """`column = ANY($1)`: one array parameter, so one prepared statement for any count."""
    return column == any_(bindparam(None, list(values), type_=ARRAY(String)))


_CUSTOM_PLANS = text(
    "SELECT previous, set_config('plan_cache_mode', 'force_custom_plan', true)"
    " FROM (SELECT current_setting('plan_cache_mode') AS previous OFFSET 0) AS setting"
)
_PLANS_AS_BEFORE = text("SELECT set_config('plan_cache_mode', :previous, true)")


async def execute_on_custom_plan(
    executor: AsyncSession | AsyncConnection, statement: Executable
) -> Result[Any]:
    """Run `statement` on a plan made for its parameters and the table as it is now.

    From its sixth run PostgreSQL may keep one generic plan for a prepared statement,
    made on the table's size at that moment. Made on a fresh database, or on a table
    that grew much since it was last analyzed, a lookup of a batch's keys is a
    sequential scan, and stays one as the table grows: 16 ms a batch for the dashboard's
    views at the end of a 20,000-application burst. Two statements more, in the same
    transaction: for statements run once a batch. The setting is put back as it was
    (if `statement` fails, the transaction is lost, and the setting with it)."""
    previous = (await executor.execute(_CUSTOM_PLANS)).scalar_one()
    result = await executor.execute(statement)
    await executor.execute(_PLANS_AS_BEFORE, {"previous": previous})
    return result


@functools.cache
def upsert(table: Table, key: str, columns: tuple[str, ...]) -> Insert:
    """`INSERT ... ON CONFLICT (key) DO UPDATE` of `columns` (the rows' own columns: one
    a row leaves out would be overwritten by its default). Built once per shape: building
    it cost more CPU than running it for a consumer's small batches."""
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=[table.c[key]],
        set_={name: statement.excluded[name] for name in columns if name != key},
    )
