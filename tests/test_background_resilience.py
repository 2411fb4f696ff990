"""Background loops survive a PostgreSQL restart and resume by themselves."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from ifuno_dashboard.config import DashboardSettings
from ifuno_dashboard.entrypoints.service import MIGRATIONS_DIR as DASHBOARD_MIGRATIONS
from ifuno_dashboard.entrypoints.service import build_definition as dashboard_definition
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import Topic
from ifuno_shared.persistence.migrations import upgrade_async
from ifuno_shared.runtime import ServiceRunner
from ifuno_timeline.config import TimelineSettings
from ifuno_timeline.entrypoints.service import MIGRATIONS_DIR as TIMELINE_MIGRATIONS
from ifuno_timeline.entrypoints.service import build_definition as timeline_definition
from ifuno_tools.local import LocalPostgres
from ifuno_tools.testing.kafka import kafka_consume, kafka_produce

pytestmark = pytest.mark.integration

VIEWER = {"Authorization": "Bearer see"}


@pytest.fixture
def own_postgres() -> Iterator[LocalPostgres]:
    """A server of this test's own: restarting it disturbs no other test."""
    with tempfile.TemporaryDirectory(prefix="ifuno-pg-") as folder:
        server = LocalPostgres(Path(folder) / "data")
        server.start()
        try:
            yield server
        finally:
            server.stop()


async def ticks(bootstrap: str, count: int) -> list[datetime]:
    records = await kafka_consume(bootstrap, Topic.TIMELINE.value, count, timeout=60)
    events = [json.loads(record.value) for record in records]
    return [
        datetime.fromisoformat(e["data"]["now"])
        for e in events
        if e["type"] == "ifuno.timeline.clock_advanced.v1"
    ]


def dead_letter(offset: int) -> dict[str, str]:
    """The headers a consumer gives a dead letter (each original offset counted once)."""
    return {
        "x-error": "not JSON",
        "x-original-topic": Topic.PORTAL.value,
        "x-original-partition": "0",
        "x-original-offset": str(offset),
        "x-consumer": "candidature",
    }


async def dead_letters(http: httpx.AsyncClient) -> int:
    response = await http.get("/v1/summary", params={"campaign": 2027}, headers=VIEWER)
    assert response.status_code == 200
    return sum(d["count"] for d in response.json()["dead_letters"])


async def test_the_clock_keeps_ticking_and_dead_letters_keep_being_read_after_a_restart(
    own_postgres: LocalPostgres, kafka
) -> None:
    timeline_url = own_postgres.create_database("timeline")
    dashboard_url = own_postgres.create_database("dashboard")
    await upgrade_async(timeline_url, TIMELINE_MIGRATIONS)
    await upgrade_async(dashboard_url, DASHBOARD_MIGRATIONS)
    timeline = TimelineSettings(
        database_url=timeline_url,
        kafka_bootstrap=kafka.bootstrap,
        http_port=0,
        clock="simulated",
        clock_start=datetime(2027, 4, 20, 12, 0, tzinfo=PARIS),
        clock_speed=3600.0,
        tick_seconds=0.2,
    )
    dashboard = DashboardSettings(
        database_url=dashboard_url,
        kafka_bootstrap=kafka.bootstrap,
        http_port=0,
        api_tokens={"see": "viewer"},
        campaign=2027,
        lag_interval=0.5,
    )
    async with (
        ServiceRunner(timeline_definition(timeline)) as clock,
        ServiceRunner(dashboard_definition(dashboard, session_timeout_ms=3000)) as board,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{board.http_port}") as http,
    ):
        await kafka_produce(
            kafka.bootstrap, Topic.DEADLETTER.value, [(b"X", b"before")], headers=dead_letter(1)
        )
        async with asyncio.timeout(30):
            while await dead_letters(http) < 1:
                await asyncio.sleep(0.2)
        before = await ticks(kafka.bootstrap, 5)

        await asyncio.to_thread(own_postgres.restart)
        await asyncio.sleep(1.0)  # the loops hit the cut connections meanwhile

        await kafka_produce(
            kafka.bootstrap, Topic.DEADLETTER.value, [(b"X", b"after")], headers=dead_letter(2)
        )
        async with asyncio.timeout(60):
            while await dead_letters(http) < 2:
                await asyncio.sleep(0.2)
            while True:
                after = await ticks(kafka.bootstrap, len(before) + 10)
                if max(after) > max(before) and len(after) >= len(before) + 5:
                    break
                await asyncio.sleep(0.5)
        ready = (await http.get("/ready")).json()
        assert ready["checks"]["database"] is True
        assert all(clock.task_health.values()), clock.task_health
