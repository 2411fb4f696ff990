"""A service's database, migrated, for tests of its repositories on a real PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from ifuno_shared.persistence import create_engine, create_session_factory
from ifuno_shared.persistence.migrations import upgrade_async
from sqlalchemy.event import listen, remove
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


@asynccontextmanager
async def migrated_sessions(
    database_url: str, migrations_dir: Path
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on `database_url` after the service's migrations; the engine is
    disposed of on exit."""
    await upgrade_async(database_url, migrations_dir)
    engine = create_engine(database_url)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


@contextmanager
def statements(sessions: async_sessionmaker[AsyncSession]) -> Iterator[list[str]]:
    """The SQL statements sent meanwhile (an executemany counts once): what a test of a
    batch's round trips counts."""
    engine = sessions.kw["bind"].sync_engine
    sent: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        sent.append(statement)

    listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        remove(engine, "before_cursor_execute", record)


async def generic_plan(sessions: async_sessionmaker[AsyncSession], sql: str) -> str:
    """The plan PostgreSQL keeps for a prepared statement (`$n` parameters unknown),
    with sequential scans priced out: an index the plan still does not use is one it
    cannot use (a partial index whose predicate depends on a parameter, say)."""
    parameters = max((int(n) for n in re.findall(r"\$(\d+)", sql)), default=0)
    async with sessions() as session:
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        await driver.execute("SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off")
        try:
            await driver.execute(f"PREPARE planned AS {sql}")
            rows = await driver.fetch(
                f"EXPLAIN EXECUTE planned({', '.join(['NULL'] * parameters)})"
                if parameters
                else "EXPLAIN EXECUTE planned"
            )
        finally:
            await driver.execute("DEALLOCATE planned; RESET plan_cache_mode; RESET enable_seqscan")
        return "\n".join(row[0] for row in rows)
