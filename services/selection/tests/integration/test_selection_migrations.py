"""Revisions 0002 and 0004 on a database created before them and on a new one."""

from __future__ import annotations

import asyncio

import pytest
from ifuno_selection.entrypoints.service import MIGRATIONS_DIR
from ifuno_shared.persistence import create_engine
from ifuno_shared.persistence.migrations import upgrade
from sqlalchemy import text

pytestmark = pytest.mark.integration

COLUMNS = "SELECT column_name FROM information_schema.columns WHERE table_name = 'candidate'"


async def columns(database_url: str, statement: str | None = None) -> set[str]:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            if statement is not None:
                await connection.execute(text(statement))
            return set((await connection.execute(text(COLUMNS))).scalars())
    finally:
        await engine.dispose()


@pytest.mark.parametrize("created_before_0002", [True, False])
async def test_two_year_plan_is_dropped_then_added_back_by_0004(
    database_url: str, created_before_0002: bool
) -> None:
    await asyncio.to_thread(upgrade, database_url, MIGRATIONS_DIR, "0001")
    if created_before_0002:
        old = "ALTER TABLE candidate ADD COLUMN IF NOT EXISTS two_year_plan boolean"
        assert "two_year_plan" in await columns(database_url, old)
    await asyncio.to_thread(upgrade, database_url, MIGRATIONS_DIR, "0003")
    assert "two_year_plan" not in await columns(database_url)
    await asyncio.to_thread(upgrade, database_url, MIGRATIONS_DIR)
    found = await columns(database_url)
    assert {"two_year_plan", "late_answer", "refusal_reason"} <= found


async def test_0008_numbers_the_place_changes_of_levels_stored_before(database_url: str) -> None:
    """A level stored before 0008 starts counting its place changes from 0."""
    await asyncio.to_thread(upgrade, database_url, MIGRATIONS_DIR, "0001")
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("ALTER TABLE level_capacity DROP COLUMN place_changes"))
            await connection.execute(text("INSERT INTO level_capacity VALUES (2027, 'M1', 20)"))
        await asyncio.to_thread(upgrade, database_url, MIGRATIONS_DIR)
        async with engine.begin() as connection:
            found = await connection.execute(text("SELECT place_changes FROM level_capacity"))
            assert list(found.scalars()) == [0]
    finally:
        await engine.dispose()
