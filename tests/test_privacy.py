"""Personal data, end to end on real servers: candidature, selection, notification and
the dashboard running in process on one PostgreSQL and one broker. After an erasure
(or the end of a campaign's keeping time) a scan of every table, the stored email
copies and every platform topic read as after compaction finds nothing of the
candidate, while the others' data and the counts stay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import Topic, new_event, portal
from ifuno_shared.events.timeline import ClockAdvanced
from ifuno_tools.testing.kafka import kafka_produce, produce_events
from ifuno_tools.testing.platform import InProcessPlatform as Platform
from ifuno_tools.testing.platform import platform_in_process
from ifuno_tools.testing.portal import Person, person

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-token"}
TOKENS = {"admin-token": "admin", "viewer-token": "viewer"}
SERVICES = ("candidature", "selection", "notification", "dashboard")


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.3)


@pytest.fixture
async def platform(postgres: Any, tmp_path: Path) -> AsyncIterator[Platform]:
    async with platform_in_process(postgres, tmp_path, tokens=TOKENS, services=SERVICES) as running:
        yield running


async def dashboard_get(platform: Platform, path: str, **options: Any) -> httpx.Response:
    async with platform.http("dashboard") as http:
        return await http.get(path, **options)


async def emails_sent(platform: Platform, who: Person) -> bool:
    sent = await platform.scalar(
        "notification",
        "SELECT count(*) FROM message WHERE application_id = :a AND status = 'sent'",
        a=who.application_id,
    )
    return bool(sent and sent >= 2)  # email and SMS


async def test_an_erasure_request_leaves_nothing_of_the_candidate_anywhere(
    platform: Platform,
) -> None:
    erased, kept = person("E", "+33612345671"), person("K", "+33612345672")
    await produce_events(platform.bootstrap, [erased.submitted(), kept.submitted()])
    await eventually(lambda: emails_sent(platform, erased))
    await eventually(lambda: emails_sent(platform, kept))
    # A record the platform refuses, keyed by the application and holding its data:
    # dead-lettered (candidature and selection read the portal topic).
    await kafka_produce(
        platform.bootstrap,
        Topic.PORTAL.value,
        [(erased.application_id, f'{{"not an event": "{erased.last_name}"}}')],
    )

    async def dead_letters_recorded() -> bool:
        found = await platform.scalar(
            "dashboard", "SELECT count(*) FROM dead_letter WHERE key = :a", a=erased.application_id
        )
        return bool(found and found >= 2)

    await eventually(dead_letters_recorded)
    assert await platform.scan(erased), "the candidate's data is there before the erasure"

    request = portal.ErasureRequested(
        application_id=erased.application_id, candidate_id=f"C-{erased.application_id}"
    )
    await produce_events(platform.bootstrap, [new_event(request, subject=request.subject)])

    async def confirmed() -> bool:
        answer = await dashboard_get(
            platform,
            "/v1/erasures",
            params={"application_id": erased.application_id},
            headers=ADMIN,
        )
        assert answer.status_code == 200
        return bool(answer.json()["complete"])

    await eventually(confirmed)
    viewer = await dashboard_get(
        platform,
        "/v1/erasures",
        params={"application_id": erased.application_id},
        headers={"Authorization": "Bearer viewer-token"},
    )
    assert viewer.status_code == 403
    await asyncio.sleep(1.0)  # the relays publish the confirmations' companions
    assert await platform.scan(erased) == []
    left = {found.where.split("/")[0] for found in await platform.scan(kept)}
    assert any(where.startswith("candidature") for where in left), left
    assert any(where.startswith("notification") for where in left)
    summary = await dashboard_get(platform, "/v1/summary", params={"campaign": 2027}, headers=ADMIN)
    assert summary.json()["erasures"] == 1
    tombstones_refused = await platform.scalar(
        "dashboard", "SELECT count(*) FROM dead_letter WHERE topic = :t", t=Topic.CONTACTS.value
    )
    assert tombstones_refused == 0  # the contact's tombstone is skipped, not dead-lettered
    assert summary.json()["levels"]["M1"]["funnel"]["received"] == 2  # counts stay

    # The portal topic replayed (the same record, and a copy under a new id): nothing
    # comes back into any database.
    original = erased.submitted()
    await produce_events(platform.bootstrap, [original, erased.submitted()])
    await asyncio.sleep(3.0)
    assert await platform.scan(erased) == []


async def test_the_end_of_the_keeping_time_erases_the_campaign_and_keeps_its_counts(
    platform: Platform,
) -> None:
    who = person("R", "+33612345673")
    await produce_events(platform.bootstrap, [who.submitted()])
    await eventually(lambda: emails_sent(platform, who))
    tick = ClockAdvanced(campaign=2028, now=datetime(2028, 9, 1, 0, 0, tzinfo=PARIS))
    await produce_events(platform.bootstrap, [new_event(tick, subject=tick.subject)])

    async def purged() -> bool:
        return not await platform.scan(who)

    await eventually(purged)
    summary = await dashboard_get(platform, "/v1/summary", params={"campaign": 2027}, headers=ADMIN)
    assert summary.json()["levels"]["M1"]["funnel"]["received"] == 1
    assert (
        await platform.scalar(
            "candidature",
            "SELECT cause FROM erased_application WHERE application_id = :a",
            a=who.application_id,
        )
        == "retention"
    )
