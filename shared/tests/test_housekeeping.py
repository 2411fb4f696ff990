"""Housekeeping: delivered outbox rows and old inbox ids are pruned, undelivered rows never."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from ifuno_shared.events.candidature import DocumentRejected
from ifuno_shared.persistence.housekeeping import Windows, prune, prune_table
from ifuno_shared.runtime import ServiceRunner, ServiceSettings
from ifuno_tools.testing.probe_service import ProbeSettings, definition
from prometheus_client import REGISTRY
from pydantic import ValidationError
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine

DAY = 86400.0


@pytest.mark.unit
def test_the_windows_default_to_a_week_and_a_month_pruned_hourly() -> None:
    settings = ServiceSettings(database_url="postgresql://x/y", kafka_bootstrap="k:9092")
    assert settings.housekeeping_windows == Windows(timedelta(days=7), timedelta(days=30), 5000)
    assert settings.housekeeping_interval == 3600.0


@pytest.mark.unit
def test_the_windows_are_read_in_days_and_may_be_seconds_long(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("IFUNO_OUTBOX_KEEP_DAYS", "0.5")
    monkeypatch.setenv("IFUNO_INBOX_KEEP_DAYS", str(3 / DAY))
    monkeypatch.setenv("IFUNO_HOUSEKEEPING_INTERVAL", "0.25")
    settings = ServiceSettings(database_url="postgresql://x/y", kafka_bootstrap="k:9092")
    windows = settings.housekeeping_windows
    assert windows.outbox == timedelta(hours=12)
    assert abs(windows.inbox - timedelta(seconds=3)) < timedelta(microseconds=2)
    assert settings.housekeeping_interval == 0.25


@pytest.mark.unit
@pytest.mark.parametrize("variable", ["IFUNO_OUTBOX_KEEP_DAYS", "IFUNO_INBOX_KEEP_DAYS"])
@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_window_of_no_time_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError):
        ServiceSettings(database_url="postgresql://x/y", kafka_bootstrap="k:9092")
    with pytest.raises(ValueError):
        Windows(outbox=timedelta(0))
    with pytest.raises(ValueError):
        Windows(batch_size=0)


async def write_rows(engine: AsyncEngine) -> None:
    """Outbox rows published 1, 6, 8 and 40 days ago, and never published (10 days old);
    inbox ids applied 1, 29, 31 and 400 days ago."""
    async with engine.begin() as connection:
        for n, (created, published) in enumerate(
            [(1, 1), (6, 6), (8, 8), (40, 40), (10, None), (10, 8), (10, 9)] * 3
        ):
            await connection.execute(
                text(
                    "INSERT INTO outbox (event_id, topic, key, type, value, created_at,"
                    " published_at) VALUES (:id, 't', 'k', 'x', '{}',"
                    " now() - make_interval(days => :created),"
                    " now() - make_interval(days => :published))"
                ),
                {"id": f"E-{n}", "created": created, "published": published},
            )
        for n, applied in enumerate([1, 29, 31, 400] * 3):
            await connection.execute(
                text(
                    "INSERT INTO inbox (consumer, event_id, processed_at)"
                    " VALUES (:consumer, :id, now() - make_interval(days => :applied))"
                ),
                {"consumer": f"c{n % 2}", "id": f"E-{n}", "applied": applied},
            )


async def ages(engine: AsyncEngine, table: str, column: str) -> list[int | None]:
    """Days since `column` of each row left (None where it is NULL), in order."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(f"SELECT extract(day FROM now() - {column})::int FROM {table} ORDER BY 1")
        )
        return list(rows.scalars())


@pytest.mark.integration
async def test_a_pass_deletes_exactly_the_rows_past_their_window_in_batches(
    engine: AsyncEngine,
) -> None:
    await write_rows(engine)
    statements = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine.sync_engine, "after_cursor_execute", count)
    try:
        deleted = await prune_table(engine, "outbox", timedelta(days=7), batch_size=4)
    finally:
        event.remove(engine.sync_engine, "after_cursor_execute", count)
    assert deleted == 12  # published 8, 40, 8 and 9 days ago, three of each
    assert statements == 3 + 1  # batches of 4, then one that comes back short
    assert await ages(engine, "outbox", "published_at") == [1] * 3 + [6] * 3 + [None] * 3

    pruned = await prune(engine, Windows(timedelta(days=7), timedelta(days=30), batch_size=2))
    assert pruned.rows == {"outbox": 0, "inbox": 6}
    assert await ages(engine, "inbox", "processed_at") == [1] * 3 + [29] * 3
    oldest = pruned.oldest
    assert oldest["outbox"] is not None and oldest["inbox"] is not None
    assert oldest["outbox"] // timedelta(days=1) == 10  # the rows never published
    assert oldest["inbox"] // timedelta(days=1) == 29

    async with engine.begin() as connection:
        await connection.execute(text("DELETE FROM outbox"))
        await connection.execute(text("DELETE FROM inbox"))
    assert (await prune(engine, Windows())).oldest == {"outbox": None, "inbox": None}


@pytest.mark.integration
async def test_rows_written_while_the_broker_is_down_stay_until_published_then_go(
    engine: AsyncEngine, database_url: str, kafka
) -> None:
    """The service prunes every 0.2 s with windows of half a second: what it wrote while
    the broker was away waits in the outbox, pass after pass, and goes once delivered."""
    settings = ProbeSettings(
        database_url=database_url,
        kafka_bootstrap=kafka.bootstrap,
        http_port=0,
        outbox_keep_days=0.5 / DAY,
        inbox_keep_days=0.5 / DAY,
        housekeeping_interval=0.2,
    )
    runner = ServiceRunner(definition(settings, session_timeout_ms=3000), http=False)
    async with runner:
        assert runner.context is not None
        kafka.stop()
        for n in range(20):
            async with runner.context.uow_factory() as uow:
                uow.publish(
                    DocumentRejected(
                        application_id=f"A-{n}", document_id="D", kind="cv", reason="x"
                    ),
                    subject=f"A-{n}",
                )
                await uow.commit()
        pruned_before = metric("pruned_total")
        await asyncio.sleep(2.0)  # ten passes, each with the rows older than the window
        assert await outbox_counts(engine) == (20, 20)
        assert metric("pruned_total") == pruned_before
        assert metric("oldest_row_seconds") > 0.5, "the unpublished rows outlived the window"
        assert runner.task_health["housekeeping"]

        kafka.start()
        async with asyncio.timeout(60):
            while await outbox_counts(engine) != (0, 0):
                await asyncio.sleep(0.2)
        assert metric("pruned_total") >= pruned_before + 20


async def outbox_counts(engine: AsyncEngine) -> tuple[int, int]:
    """(rows, rows not published yet)."""
    async with engine.connect() as connection:
        row = await connection.execute(
            text("SELECT count(*), count(*) FILTER (WHERE published_at IS NULL) FROM outbox")
        )
        total, pending = row.one()
        return int(total), int(pending)


def metric(name: str) -> float:
    """The probe's outbox sample of `ifuno_housekeeping_<name>` (0 before the first pass)."""
    labels = {"service": "probe", "table": "outbox"}
    return REGISTRY.get_sample_value(f"ifuno_housekeeping_{name}", labels) or 0.0
