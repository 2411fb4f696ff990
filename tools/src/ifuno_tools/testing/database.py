"""A service's database, migrated, for tests of its repositories on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from ifuno_shared.persistence import create_engine, create_session_factory
from ifuno_shared.persistence.migrations import upgrade_async
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
