"""Alembic, driven from code: each service keeps its scripts in its package.

A service's `env.py` is two lines (`run_env(metadata)`); its first revision
calls `create_kit_tables(op)` so the outbox, inbox and clock tables are the
same everywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData, Table, pool
from sqlalchemy.ext.asyncio import create_async_engine

from ifuno_shared.persistence.engine import async_url
from ifuno_shared.persistence.tables import KIT


def _config(database_url: str, migrations_dir: Path) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, migrations_dir: Path, revision: str = "head") -> None:
    """Bring a service's database to `revision` (the CLI's `migrate`)."""
    command.upgrade(_config(database_url, migrations_dir), revision)


async def upgrade_async(database_url: str, migrations_dir: Path, revision: str = "head") -> None:
    """`upgrade` from inside a running event loop (tests, in-process runners)."""
    await asyncio.to_thread(upgrade, database_url, migrations_dir, revision)


async def downgrade_async(database_url: str, migrations_dir: Path, revision: str) -> None:
    """Take a service's database back to `revision` (tests of the revisions themselves)."""
    await asyncio.to_thread(command.downgrade, _config(database_url, migrations_dir), revision)


def run_env(target_metadata: MetaData) -> None:
    """The body of every service's Alembic `env.py` (online mode, async driver)."""
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic: sqlalchemy.url is not set")

    def migrate(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()

    async def run() -> None:
        engine = create_async_engine(async_url(url), poolclass=pool.NullPool, hide_parameters=True)
        async with engine.connect() as connection:
            await connection.run_sync(migrate)
        await engine.dispose()

    asyncio.run(run())


class Migration(Protocol):
    """What a revision's helpers need of alembic's `op` (the module proxies Operations)."""

    def get_bind(self) -> Connection: ...


def create_kit_tables(op: Migration) -> None:
    """Create the outbox, inbox and clock tables in a service's first revision."""
    KIT.create_all(op.get_bind())


def drop_kit_tables(op: Migration) -> None:
    KIT.drop_all(op.get_bind())


def create_service_tables(op: Migration, tables: Sequence[Table]) -> None:
    """A service's first revision: the kit's tables, then its own, in dependency order."""
    create_kit_tables(op)
    for table in tables:
        table.create(op.get_bind())


def drop_service_tables(op: Migration, tables: Sequence[Table]) -> None:
    for table in reversed(tables):
        table.drop(op.get_bind())
    drop_kit_tables(op)


def drop_outbox_bookkeeping(op: Migration) -> None:
    """The outbox's `attempts` and `last_error` were never written (the relay retries a
    whole batch and counts failures in a metric). A database created after their
    removal never had them: dropped only where they exist."""
    op.get_bind().exec_driver_sql(
        "ALTER TABLE outbox DROP COLUMN IF EXISTS attempts, DROP COLUMN IF EXISTS last_error"
    )


def restore_outbox_bookkeeping(op: Migration) -> None:
    op.get_bind().exec_driver_sql(
        "ALTER TABLE outbox ADD COLUMN IF NOT EXISTS attempts integer NOT NULL DEFAULT 0,"
        " ADD COLUMN IF NOT EXISTS last_error text"
    )


def allow_outbox_tombstones(op: Migration) -> None:
    """An outbox row with no value is a tombstone (erasure on a compacted topic)."""
    op.get_bind().exec_driver_sql("ALTER TABLE outbox ALTER COLUMN value DROP NOT NULL")


def forbid_outbox_tombstones(op: Migration) -> None:
    op.get_bind().exec_driver_sql("DELETE FROM outbox WHERE value IS NULL")
    op.get_bind().exec_driver_sql("ALTER TABLE outbox ALTER COLUMN value SET NOT NULL")
