"""Every service's revisions, both ways, on a real PostgreSQL."""

from __future__ import annotations

import importlib

import pytest
from ifuno_shared.persistence.engine import create_engine
from ifuno_shared.persistence.migrations import downgrade_async, upgrade_async
from sqlalchemy import text

pytestmark = pytest.mark.integration

SERVICES = ("candidature", "selection", "notification", "timeline", "dashboard")


async def outbox_columns(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT column_name FROM information_schema.columns WHERE table_name='outbox'")
            )
            return set(rows.scalars())
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", SERVICES)
async def test_revisions_go_down_to_the_first_and_up_again(service: str, database_url: str) -> None:
    """Down to 0001 restores what later revisions removed (the outbox's old columns),
    and up again removes it: a database made before those revisions upgrades cleanly."""
    migrations = importlib.import_module(f"ifuno_{service}.entrypoints.service").MIGRATIONS_DIR
    await upgrade_async(database_url, migrations)
    assert not {"attempts", "last_error"} & await outbox_columns(database_url)
    await downgrade_async(database_url, migrations, "0001")
    assert {"attempts", "last_error"} <= await outbox_columns(database_url)
    await upgrade_async(database_url, migrations)
    columns = await outbox_columns(database_url)
    assert not {"attempts", "last_error"} & columns
    assert {"event_id", "published_at"} <= columns
