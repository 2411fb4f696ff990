"""The admin's operations page (`/espace/operations`) in Debian's Chromium, against real
servers: selection, notification and the dashboard in process (`platform_in_process`) on
the embedded PostgreSQL, a Tansu broker and an aiosmtpd server.

- A dead letter re-driven from the page goes back to its topic and its consumer applies
  it: selection read `application_completed` before the file's `application_received`
  (an unknown file: dead-lettered); once the file is known, the re-drive makes it
  complete (`in_review`), and the page says who re-drove it.
- A message that failed (the SMTP server was down for its whole retry period) and is
  re-sent from the page reaches the SMTP server exactly once.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import CloudEvent, new_event
from ifuno_shared.events import candidature as c
from ifuno_tools.local import PostgresAdmin
from ifuno_tools.testing.kafka import produce_events
from ifuno_tools.testing.platform import InProcessPlatform as Platform
from ifuno_tools.testing.platform import platform_in_process

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
TOKENS = {"tok-admin": "a.martin:admin", "tok-reviewer": "r.dupont:reviewer"}
ADMIN = {"Authorization": "Bearer tok-admin"}
SERVICES = ("selection", "notification", "dashboard")


def received(application_id: str, email: str | None = None) -> CloudEvent:
    contact = None
    if email is not None:
        contact = c.Contact(
            candidate_id=f"C-{application_id}",
            first_name="Ophélie",
            last_name="Relance",
            email=email,
            sms_opt_in=False,
        )
    return new_event(
        c.ApplicationReceived(
            application_id=application_id,
            campaign=2027,
            round="main",
            level="M1",
            regime="formation_initiale",
            missing_documents=[],
            eligibility=c.Eligibility(eligible=True),
            candidate=contact,
            submitted_at=datetime(2027, 5, 2, 10, 0, tzinfo=PARIS),
            submission_deadline=datetime(2027, 5, 15, 23, 59, tzinfo=PARIS),
            complete=True,
        ),
        subject=application_id,
    )


def completed(application_id: str) -> CloudEvent:
    return new_event(
        c.ApplicationCompleted(
            application_id=application_id,
            campaign=2027,
            round="main",
            level="M1",
            completed_at=datetime(2027, 5, 2, 10, 0, tzinfo=PARIS),
            eligibility=c.Eligibility(eligible=True),
        ),
        subject=application_id,
    )


async def admin_get(platform: Platform, service: str, path: str) -> Any:
    async with platform.http(service) as http:
        response = await http.get(path, headers=ADMIN)
    response.raise_for_status()
    return response.json()


@pytest.fixture(scope="module")
async def platform(postgres: PostgresAdmin, tmp_path_factory) -> AsyncIterator[Platform]:  # type: ignore[no-untyped-def]
    async with platform_in_process(
        postgres,
        tmp_path_factory.mktemp("operations"),
        tokens=TOKENS,
        services=SERVICES,
        own={"notification": {"retry_hours": 1 / 3600}},  # a message fails after a second down
    ) as running:
        yield running


async def until(probe: Callable[[], Awaitable[Any]], timeout: float = 60.0) -> Any:
    async with asyncio.timeout(timeout):
        while not (found := await probe()):
            await asyncio.sleep(0.3)
    return found


@pytest.fixture
async def operations(platform: Platform) -> AsyncIterator[Any]:
    """The operations page, signed in as the admin (a Playwright page)."""
    if not Path(CHROMIUM).exists():  # noqa: ASYNC240
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is required in CI (.ci/run installs it)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.async_api import async_playwright

    base = platform.urls["dashboard"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        page = await browser.new_page()
        await page.goto(f"{base}/espace")
        await page.get_by_label("Jeton d'accès du personnel").fill("tok-admin")
        await page.get_by_role("button", name="Se connecter").click()
        await page.wait_for_url(f"{base}/espace")
        await page.goto(f"{base}/espace/operations")
        yield page
        await browser.close()


async def test_a_dead_letter_redriven_from_the_workspace_is_applied_by_its_consumer(
    platform: Platform, operations: Any
) -> None:
    # Completed before received (the producer's bug): selection does not know the file
    # yet, retries, and dead-letters the record; the file then arrives, still incomplete.
    await produce_events(platform.bootstrap, [completed("DL-1"), received("DL-1")])
    row = (
        operations.locator("tr")
        .filter(has_text="ifuno.candidature.v1[")
        .filter(has_text="selection")
    )
    redrive = row.get_by_role("button", name=re.compile(r"^Relancer ifuno\.candidature\.v1@"))

    async def listed() -> bool:
        await operations.reload()
        return await redrive.count() == 1

    await until(listed)

    async def statuses() -> dict[str, str]:
        files = await admin_get(platform, "selection", "/v1/applications?campaign=2027")
        return {f["application_id"]: f["status"] for f in files}

    assert await until(statuses) == {"DL-1": "received"}
    await redrive.click()
    notice = operations.get_by_role("status")
    await notice.wait_for()
    assert "Lettre morte ifuno.candidature.v1[" in await notice.inner_text()
    assert "relancée par a.martin" in await row.inner_text()

    async def applied() -> bool:
        return (await statuses()).get("DL-1") == "in_review"

    await until(applied, timeout=30)
    assert await redrive.count() == 0  # re-driven once: no button left for it


async def test_a_failed_message_resent_from_the_workspace_is_delivered_once(
    platform: Platform, operations: Any
) -> None:
    email = "ophelie.relance@example.org"
    platform.smtp.stop()
    try:
        await produce_events(platform.bootstrap, [received("MS-1", email)])

        async def failed() -> bool:
            messages = await admin_get(platform, "notification", "/v1/applications/MS-1/messages")
            return bool(messages) and all(m["status"] == "failed" for m in messages)

        await until(failed)
    finally:
        platform.smtp.start()
    resend = operations.get_by_role("button", name="Renvoyer les messages en échec de MS-1")

    async def listed() -> bool:
        await operations.reload()
        return await resend.count() == 1

    await until(listed)
    assert platform.smtp.to(email) == []
    await resend.click()
    notice = operations.get_by_role("status")
    await notice.wait_for()
    assert "1 message(s) de MS-1 remis à l'envoi" in await notice.inner_text()

    async def sent() -> list[dict[str, Any]] | None:
        messages = await admin_get(platform, "notification", "/v1/applications/MS-1/messages")
        return messages if all(m["status"] == "sent" for m in messages) else None

    [message] = await until(sent, timeout=30)
    # Settled: the dispatcher never takes a sent message again, so this count is final.
    assert len(platform.smtp.to(email)) == 1
    assert [a["outcome"] for a in message["delivery_attempts"]].count("sent") == 1
