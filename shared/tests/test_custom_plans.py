"""Statements run on a plan made for their parameters (`execute_on_custom_plan`)."""

from __future__ import annotations

from ifuno_shared.persistence import outbox_table
from ifuno_shared.persistence.repository import execute_on_custom_plan
from sqlalchemy import BigInteger, any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

LOOKUP = select(outbox_table.c.id).where(
    outbox_table.c.id == any_(bindparam("ids", type_=ARRAY(BigInteger)))
)


async def plans_of_lookup(connection: AsyncConnection) -> tuple[int, int]:
    """(generic, custom): the runs of the lookup's prepared statement on each plan."""
    row = (
        await connection.execute(
            text(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                " WHERE statement LIKE '%outbox.id = ANY%' AND statement NOT LIKE '%pg_%'"
            )
        )
    ).one()
    return row.generic_plans, row.custom_plans


async def test_a_statement_on_a_custom_plan_is_planned_for_each_run_then_the_setting_is_back(
    engine: AsyncEngine,
) -> None:
    """The connection's own setting forces generic plans: the lookup runs on its generic
    plan, except through `execute_on_custom_plan`, and the setting is the same after."""
    async with engine.connect() as connection:
        await connection.execute(text("SET plan_cache_mode = force_generic_plan"))
        for _ in range(3):
            await connection.execute(LOOKUP, {"ids": [1, 2]})
        assert await plans_of_lookup(connection) == (3, 0)
        for _ in range(2):
            found = await execute_on_custom_plan(connection, LOOKUP.params(ids=[1, 2]))
            assert found.all() == []
        assert await plans_of_lookup(connection) == (3, 2)
        assert await connection.scalar(text("SHOW plan_cache_mode")) == "force_generic_plan"
        await connection.execute(LOOKUP, {"ids": [3]})
        assert await plans_of_lookup(connection) == (4, 2)
        await connection.commit()
        assert await connection.scalar(text("SHOW plan_cache_mode")) == "force_generic_plan"
