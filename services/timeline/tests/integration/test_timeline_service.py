"""The timeline service against a real PostgreSQL and a real broker, HTTP included."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import Phase, Topic
from ifuno_shared.persistence import create_engine
from ifuno_shared.persistence.migrations import upgrade_async
from ifuno_shared.runtime import ServiceRunner
from ifuno_timeline.config import TimelineSettings
from ifuno_timeline.entrypoints.service import MIGRATIONS_DIR, build_definition
from ifuno_tools.testing.kafka import kafka_consume
from sqlalchemy import text

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-token"}
START = datetime(2027, 4, 20, 12, 0, tzinfo=PARIS)


def settings(database_url: str, bootstrap: str, **overrides: object) -> TimelineSettings:
    values: dict[str, object] = {
        "database_url": database_url,
        "kafka_bootstrap": bootstrap,
        "http_port": 0,
        "clock": "simulated",
        "clock_start": START,
        "api_tokens": {"admin-token": "admin", "viewer-token": "viewer"},
    }
    return TimelineSettings(**(values | overrides))


@pytest.fixture
async def migrated(database_url: str) -> str:
    await upgrade_async(database_url, MIGRATIONS_DIR)
    return database_url


class Running:
    def __init__(self, runner: ServiceRunner) -> None:
        self.runner = runner
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.http_port}")

    async def move(self, now: datetime) -> httpx.Response:
        return await self.http.post("/v1/clock", json={"now": now.isoformat()}, headers=ADMIN)


@pytest.fixture
async def timeline(migrated: str, kafka) -> AsyncIterator[Running]:
    async with ServiceRunner(build_definition(settings(migrated, kafka.bootstrap))) as runner:
        running = Running(runner)
        yield running
        await running.http.aclose()


async def timeline_events(bootstrap: str, count: int) -> list[dict]:
    records = await kafka_consume(bootstrap, Topic.TIMELINE.value, count)
    assert all(record.key == b"2027" for record in records)
    return [json.loads(record.value) for record in records]


def phases_in(events: list[dict]) -> list[str]:
    return [e["data"]["phase"] for e in events if e["type"].endswith("phase_started.v1")]


def calendars_in(events: list[dict]) -> list[dict[str, dict]]:
    """Each `calendar_changed`'s phases by name."""
    return [
        {p["phase"]: p for p in e["data"]["phases"]}
        for e in events
        if e["type"] == "ifuno.timeline.calendar_changed.v1"
    ]


async def test_a_simulated_campaign_emits_every_phase_once_and_in_order(
    timeline: Running, kafka
) -> None:
    day = START
    moves = 0
    while day < datetime(2027, 9, 15, tzinfo=PARIS):
        day += timedelta(days=1)
        response = await timeline.move(day)
        assert response.status_code == 200, response.text
        moves += 1
    events = await timeline_events(kafka.bootstrap, moves + 2 + len(Phase))
    assert events[0]["type"] == "ifuno.timeline.calendar_changed.v1"  # at start, once
    assert len(calendars_in(events)) == 1
    assert phases_in(events) == [phase.value for phase in Phase]
    ticks = [e for e in events if e["type"] == "ifuno.timeline.clock_advanced.v1"]
    assert len(ticks) == moves + 1
    instants = [datetime.fromisoformat(t["data"]["now"]) for t in ticks]
    assert instants == sorted(instants)
    committee = next(e for e in events if e["data"].get("phase") == "main_committee")
    assert committee["data"]["starts_at"] == "2027-06-25T14:00:00+02:00"


async def test_a_jump_across_three_phases_emits_the_three_in_order(
    timeline: Running, kafka
) -> None:
    await timeline.move(datetime(2027, 5, 2, tzinfo=PARIS))
    response = await timeline.move(datetime(2027, 6, 30, tzinfo=PARIS))
    assert response.json()["phases_started"] == [
        "main_submissions_closed",
        "main_interviews",
        "main_committee",
    ]
    events = await timeline_events(kafka.bootstrap, 8)
    assert [e["type"].rsplit(".", 2)[1] for e in events] == [
        "calendar_changed",  # the start: the whole calendar
        "clock_advanced",  # then the clock, before the campaign opens
        "phase_started",
        "clock_advanced",
        "phase_started",
        "phase_started",
        "phase_started",
        "clock_advanced",
    ]
    assert phases_in(events) == [
        "main_submissions_open",
        "main_submissions_closed",
        "main_interviews",
        "main_committee",
    ]


async def test_a_restart_mid_campaign_resumes_without_repeat_or_gap(migrated: str, kafka) -> None:
    first = ServiceRunner(build_definition(settings(migrated, kafka.bootstrap)))
    async with first:
        running = Running(first)
        assert (await running.move(datetime(2027, 6, 2, tzinfo=PARIS))).status_code == 200
        await running.http.aclose()
    second = ServiceRunner(build_definition(settings(migrated, kafka.bootstrap)))
    async with second:
        running = Running(second)
        calendar = (await running.http.get("/v1/calendar/2027")).json()
        assert calendar["now"] == "2027-06-02T00:00:00+02:00"
        assert calendar["current_phase"] == "main_interviews"
        assert (await running.move(datetime(2027, 9, 10, tzinfo=PARIS))).status_code == 200
        await running.http.aclose()
    events = await timeline_events(kafka.bootstrap, 5 + len(Phase))
    assert phases_in(events) == [phase.value for phase in Phase]
    assert len(calendars_in(events)) == 2  # announced at each start


async def test_the_clock_never_moves_back_and_needs_the_admin_role(timeline: Running) -> None:
    await timeline.move(datetime(2027, 5, 2, tzinfo=PARIS))
    backwards = await timeline.move(datetime(2027, 5, 1, tzinfo=PARIS))
    assert backwards.status_code == 422
    assert backwards.json()["detail"][0]["loc"] == ["body", "now"]
    anonymous = await timeline.http.post("/v1/clock", json={"now": "2027-05-03T00:00:00+02:00"})
    assert anonymous.status_code == 401
    viewer = await timeline.http.post(
        "/v1/clock",
        json={"now": "2027-05-03T00:00:00+02:00"},
        headers={"Authorization": "Bearer viewer-token"},
    )
    assert viewer.status_code == 403
    for not_rfc3339 in ("2027-05-03T00:00:00", 1811000000, "1811000000", "2027-05-03T00:00+02:00"):
        refused = await timeline.http.post("/v1/clock", json={"now": not_rfc3339}, headers=ADMIN)
        assert refused.status_code == 422, not_rfc3339
        assert refused.json()["detail"][0]["loc"] == ["body", "now"]
    extra = await timeline.http.post(
        "/v1/clock", json={"now": "2027-05-03T00:00:00+02:00", "force": True}, headers=ADMIN
    )
    assert extra.status_code == 422 and extra.json()["detail"][0]["loc"] == ["body", "force"]
    calendar = await timeline.http.get("/v1/calendar/2027")
    assert calendar.json()["now"] == "2027-05-02T00:00:00+02:00"  # nothing above moved it


async def test_the_real_clock_cannot_be_moved(migrated: str, kafka) -> None:
    definition = build_definition(settings(migrated, kafka.bootstrap, clock="real", campaign=2027))
    async with (
        ServiceRunner(definition) as runner,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.http_port}") as http,
    ):
        response = await http.post(
            "/v1/clock", json={"now": "2027-05-03T00:00:00+02:00"}, headers=ADMIN
        )
        assert response.status_code == 409
        calendar = (await http.get("/v1/calendar/2027")).json()
        assert [p["phase"] for p in calendar["phases"]] == [phase.value for phase in Phase]
        checks = (await http.get("/ready")).json()["checks"]
        assert {"database", "broker", "task:relay", "task:tick"} <= checks.keys()
        assert all(checks.values()), checks


async def test_an_accelerated_clock_moves_by_itself(migrated: str, kafka) -> None:
    definition = build_definition(
        settings(migrated, kafka.bootstrap, clock_speed=86_400.0, tick_seconds=0.05)
    )
    async with ServiceRunner(definition):
        events = await timeline_events(kafka.bootstrap, 4)
    ticks = [e for e in events if e["type"] == "ifuno.timeline.clock_advanced.v1"]
    assert datetime.fromisoformat(ticks[-1]["data"]["now"]) > START


async def test_a_calendar_override_made_mid_season_is_announced_and_followed(
    migrated: str, kafka, tmp_path: Path
) -> None:
    overrides = tmp_path / "calendar.toml"
    overrides.write_text("[2027]\n", encoding="utf-8")
    definition = build_definition(
        settings(migrated, kafka.bootstrap, calendar_file=overrides, tick_seconds=0.05)
    )
    async with ServiceRunner(definition) as runner:
        running = Running(runner)
        assert (await running.move(datetime(2027, 5, 10, tzinfo=PARIS))).status_code == 200
        overrides.write_text(
            "[2027]\nmain_submissions_close = 2027-05-22T23:59:00+02:00\n", encoding="utf-8"
        )
        # The clock stands still (moved by hand only): the file is looked at every tick.
        events = await timeline_events(kafka.bootstrap, 5)
        extended = calendars_in(events)[-1]["main_submissions_open"]
        assert extended["ends_at"] == "2027-05-22T23:59:00+02:00"
        calendar = (await running.http.get("/v1/calendar/2027")).json()
        assert calendar["phases"][1]["starts_at"] == "2027-05-22T23:59:00+02:00"
        # The phases follow the new dates: 16 May is still within the main round.
        moved = await running.move(datetime(2027, 5, 16, 12, 0, tzinfo=PARIS))
        assert moved.json()["phases_started"] == []
        overrides.write_text("[2027]\nmain_submissions_close = 2027-02-30\n", encoding="utf-8")
        await asyncio.sleep(0.3)  # an invalid file: logged, the calendar in force kept
        moved = await running.move(datetime(2027, 5, 23, tzinfo=PARIS))
        assert moved.json()["phases_started"] == ["main_submissions_closed"]
        await running.http.aclose()
    events = await timeline_events(kafka.bootstrap, 8)
    assert [e["type"].rsplit(".", 2)[1] for e in events] == [
        "calendar_changed",
        "clock_advanced",  # the start
        "phase_started",
        "clock_advanced",  # 10 May
        "calendar_changed",  # the override, read while the clock stood still
        "clock_advanced",  # 16 May: nothing started
        "phase_started",  # 23 May: the new deadline passed
        "clock_advanced",
    ]
    assert events[6]["data"]["starts_at"] == "2027-05-22T23:59:00+02:00"


async def test_the_public_calendar_only_reads(timeline: Running, migrated: str) -> None:
    """While the clock table is locked against every write (and `SELECT ... FOR UPDATE`),
    the calendar still answers: reading it takes no lock and writes no row."""
    await timeline.move(datetime(2027, 6, 2, tzinfo=PARIS))
    engine = create_engine(migrated)
    try:
        async with engine.connect() as connection, connection.begin():
            await connection.execute(text("LOCK TABLE campaign_clock IN EXCLUSIVE MODE"))
            async with asyncio.timeout(5):
                calendar = await timeline.http.get("/v1/calendar/2027")
            assert calendar.status_code == 200
            assert calendar.json()["now"] == "2027-06-02T00:00:00+02:00"
            async with asyncio.timeout(5):
                assert (await timeline.http.get("/v1/calendar/2031")).status_code == 200
        async with engine.connect() as connection:
            campaigns = await connection.scalars(text("SELECT campaign FROM campaign_clock"))
            assert list(campaigns) == [2027]
    finally:
        await engine.dispose()


async def test_a_calendar_refusal_names_no_file(migrated: str, kafka, tmp_path: Path) -> None:
    """The file is read again for each request: broken after the start, it answers 409
    saying what is wrong, never where the file lives."""
    calendar_file = tmp_path / "secret-place" / "calendar.toml"
    calendar_file.parent.mkdir()
    calendar_file.write_text("", encoding="utf-8")
    definition = build_definition(settings(migrated, kafka.bootstrap, calendar_file=calendar_file))
    async with (
        ServiceRunner(definition) as runner,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.http_port}") as http,
    ):
        assert (await http.get("/v1/calendar/2028")).status_code == 200
        for broken in ("[2028\nnot toml", '[2028]\nmain_submissions_close = "soon"'):
            calendar_file.write_text(broken, encoding="utf-8")
            refused = await http.get("/v1/calendar/2028")
            assert refused.status_code == 409, refused.text
            assert "secret-place" not in refused.text and str(tmp_path) not in refused.text
        calendar_file.unlink()
        missing = await http.get("/v1/calendar/2028")
        assert missing.status_code == 409 and "secret-place" not in missing.text
