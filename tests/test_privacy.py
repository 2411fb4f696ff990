"""Personal data, end to end on real servers: candidature, selection, notification and
the dashboard running in process on one PostgreSQL and one broker. After an erasure
(or the end of a campaign's keeping time) a scan of every table, the stored email
copies and every platform topic read as after compaction finds nothing of the
candidate, while the others' data and the counts stay."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from ifuno_candidature.config import CandidatureSettings
from ifuno_candidature.entrypoints import service as candidature
from ifuno_dashboard.config import DashboardSettings
from ifuno_dashboard.entrypoints import service as dashboard
from ifuno_notification.config import NotificationSettings
from ifuno_notification.entrypoints import service as notification
from ifuno_selection.config import SelectionSettings
from ifuno_selection.entrypoints import service as selection
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import CloudEvent, Topic, new_event, portal
from ifuno_shared.events.timeline import ClockAdvanced
from ifuno_shared.persistence.engine import create_engine
from ifuno_shared.persistence.migrations import upgrade_async
from ifuno_shared.runtime import ServiceRunner
from ifuno_tools.testing.kafka import kafka_produce, produce_events
from ifuno_tools.testing.scan import Found, scan_everywhere
from sqlalchemy import text

pytestmark = pytest.mark.integration

ADMIN = {"Authorization": "Bearer admin-token"}
TOKENS = {"admin-token": "admin", "viewer-token": "viewer"}
SERVICES = ("candidature", "selection", "notification", "dashboard")
SCANNED_TOPICS = [t.value for t in Topic if t is not Topic.PORTAL]
"""Every platform topic; the portal's is the portal's own, bounded by its retention."""


@dataclass
class Person:
    application_id: str
    first_name: str
    last_name: str
    email: str
    phone: str
    diploma: str

    @property
    def needles(self) -> list[str]:
        """What must be gone: names, address, the number in both forms, the diploma."""
        national = "0" + self.phone.removeprefix("+33")
        return [
            self.first_name,
            self.last_name,
            self.email,
            self.phone,
            national,
            self.diploma,
        ]

    def submitted(self, campaign: int = 2027) -> CloudEvent:
        national = "0" + self.phone.removeprefix("+33")
        return new_event(
            portal.ApplicationSubmitted(
                application_id=self.application_id,
                campaign=campaign,
                level="M1",
                regime="formation_initiale",
                candidate=portal.Candidate(
                    candidate_id=f"C-{self.application_id}",
                    first_name=self.first_name,
                    last_name=self.last_name,
                    email=self.email,
                    phone=" ".join(national[i : i + 2] for i in range(0, 10, 2)),
                    sms_opt_in=True,
                ),
                employed=False,
                highest_diploma=portal.Diploma(
                    level="bac+3", field="sciences de l'éducation", title=self.diploma
                ),
                vapp=False,
                training_experience_years=1,
                documents=[],
                submitted_at=datetime(2027, 5, 3, 10, 0, tzinfo=PARIS),
            ),
            subject=self.application_id,
        )


def person(tag: str, phone: str) -> Person:
    word = uuid.uuid4().hex[:6]
    return Person(
        application_id=f"P-{tag}-{word}",
        first_name=f"Ysaline{word}",
        last_name=f"Quenouille{word}",
        email=f"ysaline.{word}@example.org",
        phone=phone,
        diploma=f"Licence Humanités {word}",
    )


@dataclass
class Platform:
    bootstrap: str
    databases: dict[str, str]
    copies: Path
    http: dict[str, httpx.AsyncClient]

    async def scan(self, who: Person) -> list[Found]:
        return await scan_everywhere(
            databases=self.databases,
            bootstrap=self.bootstrap,
            topics=SCANNED_TOPICS,
            folders=[self.copies],
            needles=who.needles,
        )

    async def scalar(self, service: str, query: str, **params: Any) -> Any:
        engine = create_engine(self.databases[service])
        try:
            async with engine.connect() as connection:
                return await connection.scalar(text(query), params)
        finally:
            await engine.dispose()


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.3)


@pytest.fixture
async def platform(
    postgres: Any, kafka: Any, smtp_server: Any, sms_gateway: Any, tmp_path: Path
) -> AsyncIterator[Platform]:
    await kafka.create_topics()
    databases: dict[str, str] = {}
    for name in SERVICES:
        databases[name] = await postgres.create_database(f"{name}_{uuid.uuid4().hex[:12]}")
    modules = {
        "candidature": candidature,
        "selection": selection,
        "notification": notification,
        "dashboard": dashboard,
    }
    for name, module in modules.items():
        await upgrade_async(databases[name], module.MIGRATIONS_DIR)
    common = {"kafka_bootstrap": kafka.bootstrap, "http_port": 0, "api_tokens": TOKENS}
    copies = tmp_path / "copies"
    definitions = {
        "candidature": candidature.build_definition(
            CandidatureSettings(database_url=databases["candidature"], **common),
            session_timeout_ms=3000,
        ),
        "selection": selection.build_definition(
            SelectionSettings(database_url=databases["selection"], **common),
            session_timeout_ms=3000,
        ),
        "notification": notification.build_definition(
            NotificationSettings(
                database_url=databases["notification"],
                smtp_host=smtp_server.host,
                smtp_port=smtp_server.port,
                sms_gateway_url=sms_gateway.url,
                sms_gateway_token=sms_gateway.token,
                dispatch_interval=0.05,
                outbox_dir=copies,
                **common,
            ),
            session_timeout_ms=3000,
        ),
        "dashboard": dashboard.build_definition(
            DashboardSettings(database_url=databases["dashboard"], campaign=2027, **common),
            session_timeout_ms=3000,
        ),
    }
    async with contextlib.AsyncExitStack() as stack:
        http: dict[str, httpx.AsyncClient] = {}
        for name, definition in definitions.items():
            runner = await stack.enter_async_context(ServiceRunner(definition))
            http[name] = await stack.enter_async_context(
                httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.http_port}")
            )
        yield Platform(kafka.bootstrap, databases, copies, http)


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
        answer = await platform.http["dashboard"].get(
            "/v1/erasures", params={"application_id": erased.application_id}, headers=ADMIN
        )
        assert answer.status_code == 200
        return bool(answer.json()["complete"])

    await eventually(confirmed)
    viewer = await platform.http["dashboard"].get(
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
    summary = await platform.http["dashboard"].get(
        "/v1/summary", params={"campaign": 2027}, headers=ADMIN
    )
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
    summary = await platform.http["dashboard"].get(
        "/v1/summary", params={"campaign": 2027}, headers=ADMIN
    )
    assert summary.json()["levels"]["M1"]["funnel"]["received"] == 1
    assert (
        await platform.scalar(
            "candidature",
            "SELECT cause FROM erased_application WHERE application_id = :a",
            a=who.application_id,
        )
        == "retention"
    )
