"""The dashboard through a real broker and PostgreSQL, and its page in a real browser."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from ifuno_dashboard.config import DashboardSettings
from ifuno_dashboard.entrypoints.service import MIGRATIONS_DIR, build_definition
from ifuno_shared.calendar import PARIS, default_calendar
from ifuno_shared.events import CloudEvent, EventData, Phase, Topic, new_event
from ifuno_shared.events import candidature as c
from ifuno_shared.events import notification as n
from ifuno_shared.events import selection as s
from ifuno_shared.events.timeline import CalendarChanged, ClockAdvanced, PhaseStarted, PhaseWindow
from ifuno_shared.persistence.migrations import upgrade_async
from ifuno_shared.runtime import ServiceRunner
from ifuno_tools.testing.kafka import kafka_produce, produce_events

pytestmark = pytest.mark.integration

TOKEN = "jeton-du-tableau-7f3a9c"
VIEWER = {"Authorization": f"Bearer {TOKEN}"}
DEADLINE = datetime(2027, 7, 2, 23, 59, tzinfo=PARIS)
COMPLEMENTARY_OPENS = datetime(2027, 6, 29, 0, 0, tzinfo=PARIS)  # overridden (default 1 July)
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[4] / "test-artifacts"


def ev(data: EventData) -> CloudEvent:
    return new_event(data, subject=getattr(data, "application_id", "2027"))


def received(a: str, level: str) -> CloudEvent:
    return ev(
        c.ApplicationReceived(
            application_id=a,
            campaign=2027,
            round="main",
            level=level,
            regime="formation_continue",
            missing_documents=[],
            eligibility=c.Eligibility(eligible=True),
        )
    )


def short_campaign() -> list[CloudEvent]:
    committee = next(p for p in default_calendar(2027).phases() if p[0] is Phase.MAIN_COMMITTEE)
    calendar = default_calendar(2027).with_overrides(
        {"complementary_submissions_open": COMPLEMENTARY_OPENS}
    )
    events = [
        ev(
            CalendarChanged(
                campaign=2027,
                phases=[
                    PhaseWindow(phase=p, starts_at=a, ends_at=b) for p, a, b in calendar.phases()
                ],
            )
        ),
        ev(ClockAdvanced(campaign=2027, now=datetime(2027, 6, 26, tzinfo=PARIS))),
        ev(
            PhaseStarted(
                campaign=2027, phase=committee[0], starts_at=committee[1], ends_at=committee[2]
            )
        ),
    ]
    for a, level in [("A", "M1"), ("B", "M1"), ("C", "M1"), ("D", "M2")]:
        events += [received(a, level), ev(c.ApplicationCompleted(application_id=a))]
    events += [
        ev(
            c.ApplicationRefused(
                application_id="L", reason="campaign_closed", campaign=2027, level="M1"
            )
        ),
        ev(s.Shortlisted(application_id="A", level="M1", file_score=16)),
        ev(s.Shortlisted(application_id="B", level="M1", file_score=12)),
        ev(s.Refused(application_id="C", reason="below_shortlist_threshold", level="M1")),
        ev(s.InterviewRecorded(application_id="A", attended=True, score=15)),
        ev(s.InterviewRecorded(application_id="B", attended=True, score=9)),
        ev(
            s.Admitted(application_id="A", level="M1", offer_deadline=DEADLINE, from_waitlist=False)
        ),
        ev(s.Waitlisted(application_id="B", level="M1", rank=1)),
        ev(s.OfferAccepted(application_id="A")),
        ev(
            n.NotificationSent(
                application_id="A", channel="email", template="admitted", cause_event_id="x"
            )
        ),
        ev(
            n.NotificationFailed(
                application_id="B",
                channel="sms",
                template="waitlisted",
                cause_event_id="y",
                error="550",
            )
        ),
    ]
    return events


@pytest.fixture
async def dashboard(database_url: str, kafka) -> AsyncIterator[httpx.AsyncClient]:
    await upgrade_async(database_url, MIGRATIONS_DIR)
    settings = DashboardSettings(
        database_url=database_url,
        kafka_bootstrap=kafka.bootstrap,
        http_port=0,
        api_tokens={TOKEN: "écran.accueil:viewer", "rev": "r.dupont:reviewer"},
        campaign=2027,
        lag_interval=0.5,
    )
    async with (
        ServiceRunner(build_definition(settings, session_timeout_ms=3000)) as runner,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.http_port}") as http,
    ):
        yield http


async def summary_when(http: httpx.AsyncClient, predicate, timeout: float = 30.0) -> dict:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while True:
            response = await http.get("/v1/summary", params={"campaign": 2027}, headers=VIEWER)
            assert response.status_code == 200
            if predicate(found := response.json()):
                return found
            await asyncio.sleep(0.2)


async def test_a_short_campaign_gives_the_right_summary(
    dashboard: httpx.AsyncClient, kafka
) -> None:
    await produce_events(kafka.bootstrap, short_campaign())
    await kafka_produce(
        kafka.bootstrap,
        Topic.DEADLETTER.value,
        [(b"X", b"not json")],
    )
    expected = {
        "received": 3,
        "complete": 3,
        "refused": 2,
        "shortlisted": 2,
        "interviewed": 2,
        "admitted": 1,
        "accepted": 1,
        "declined": 0,
        "expired": 0,
        "waitlisted": 1,
        "withdrawn": 0,
    }
    summary = await summary_when(
        dashboard,
        lambda s: (
            s["levels"]["M1"]["funnel"] == expected
            and len(s["messages"]) == 2
            and s["levels"]["M2"]["funnel"]["received"] == 1
            and s["phase"] is not None
            and s["next_deadline"]["at"] == COMPLEMENTARY_OPENS.isoformat()
        ),
    )
    m1 = summary["levels"]["M1"]
    assert m1["refusals"] == {"below_shortlist_threshold": 1, "campaign_closed": 1}
    assert m1["places_left"] == 19 and m1["held"] == 1
    assert m1["waitlist"] == [{"rank": 1, "application_id": "B"}]
    assert summary["levels"]["M2"]["funnel"]["received"] == 1
    assert summary["phase"] == "main_committee"
    assert summary["now"] == "2027-06-26T00:00:00+02:00"
    assert summary["next_deadline"] == {
        "what": "complementary_submissions_open",
        "at": "2027-06-29T00:00:00+02:00",
    }, "the calendar in force, override included"
    assert [p["held"] for p in summary["places_over_time"]] == [1]
    outcomes = {(m["template"], m["channel"], m["outcome"]) for m in summary["messages"]}
    assert outcomes == {("admitted", "email", "sent"), ("waitlisted", "sms", "failed")}
    await summary_when(dashboard, lambda s: s["dead_letters"])
    assert (await dashboard.get("/v1/summary", params={"campaign": 2027})).status_code == 401
    # No token in an address: the stream takes a bearer token or the page's session.
    assert (await dashboard.get("/v1/stream", params={"token": TOKEN})).status_code == 401
    odd = {"Authorization": "Bearer jéton".encode()}
    assert (await dashboard.get("/v1/stream", headers=odd)).status_code == 401  # type: ignore[arg-type]
    async with dashboard.stream("GET", "/v1/stream", headers=VIEWER) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.aiter_lines()
        assert await anext(lines) == "event: summary"
        data = await anext(lines)
    assert json.loads(data.removeprefix("data: "))["campaign"] == 2027
    await the_page_session_is_a_signed_http_only_cookie(dashboard)
    script = await dashboard.get("/static/app.js")
    assert script.headers["content-type"].startswith("text/javascript")
    metrics = (await dashboard.get("/metrics")).text
    assert "ifuno_events_consumed_total" in metrics


async def the_page_session_is_a_signed_http_only_cookie(dashboard: httpx.AsyncClient) -> None:
    refused = await dashboard.post("/v1/session", json={"token": "nope"})
    assert refused.status_code == 401 and "set-cookie" not in refused.headers
    signed_in = await dashboard.post("/v1/session", json={"token": TOKEN})
    assert signed_in.status_code == 204
    cookie = signed_in.headers["set-cookie"]
    assert TOKEN not in cookie
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "samesite", "max-age", "path"} <= attributes
    assert "samesite=strict" in cookie.lower() and "secure" not in attributes  # plain HTTP
    assert (await dashboard.get("/v1/session")).json() == {
        "name": "écran.accueil",
        "role": "viewer",
    }
    assert (await dashboard.get("/v1/summary")).status_code == 200
    async with dashboard.stream("GET", "/v1/stream") as stream:
        assert stream.status_code == 200
    assert (await dashboard.delete("/v1/session")).status_code == 204
    assert (await dashboard.get("/v1/session")).status_code == 401
    assert (await dashboard.get("/v1/stream")).status_code == 401


async def test_the_page_updates_live_in_a_real_browser(dashboard: httpx.AsyncClient, kafka) -> None:
    if not Path(CHROMIUM).exists():  # noqa: ASYNC240
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is required in CI (.ci/run installs it)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.async_api import async_playwright

    base = str(dashboard.base_url)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        outside: list[str] = []
        requested: list[str] = []

        def record(request) -> None:  # type: ignore[no-untyped-def]
            requested.append(request.url)
            if not request.url.startswith(base):
                outside.append(request.url)

        page.on("request", record)
        await page.goto(f"{base}/")
        await page.fill("#token", "wrong")
        await page.click("button[type=submit]")
        await page.wait_for_function(
            "document.getElementById('login-error').textContent === 'Jeton refusé.'"
        )
        await page.fill("#token", TOKEN)
        await page.click("button[type=submit]")
        received_m1 = page.locator('[data-level="M1"] [data-counter="received"]')
        await received_m1.wait_for()
        assert await received_m1.inner_text() == "0"
        await produce_events(kafka.bootstrap, short_campaign())
        for counter, value in (("received", "3"), ("places_left", "19")):
            selector = f'[data-level="M1"] [data-counter="{counter}"]'
            await page.wait_for_function(
                f"document.querySelector('{selector}').textContent === '{value}'",
                timeout=30_000,
            )
        assert await page.locator("#places-chart polyline").count() >= 1
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        await page.set_viewport_size({"width": 390, "height": 844})
        await page.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
        session = next(c for c in await page.context.cookies() if c["name"] == "ifuno_session")
        assert session["httpOnly"] and session["sameSite"] == "Strict"
        assert await page.evaluate("document.cookie") == ""  # out of the scripts' reach
        assert await page.locator("#who-name").inner_text() == "écran.accueil"
        await page.click("#logout")
        await page.locator("#login").wait_for()
        await page.reload()
        await page.locator("#login").wait_for()
        assert await page.locator("#board").is_hidden()
        # An old bookmark with ?token=: signed in, and the address bar is cleaned at once.
        requested_before = len(requested)
        await page.goto(f"{base}/?campaign=2027&token={TOKEN}")
        await received_m1.wait_for()
        assert page.url == f"{base}/?campaign=2027"
        legacy = requested[requested_before:]
        assert legacy[0] == f"{base}/?campaign=2027&token={TOKEN}"
        assert any("/v1/stream" in url for url in legacy[1:])
        await browser.close()
    assert outside == [], "the page must load nothing from outside the machine"
    assert any(url.startswith(f"{base}/v1/stream") for url in requested)
    signed_in_normally = requested[:requested_before]
    assert not [url for url in signed_in_normally + legacy[1:] if TOKEN in url], (
        "no request of the page may carry the token in its address"
    )


async def test_a_file_search_with_a_control_character_is_refused_not_failed(
    dashboard: httpx.AsyncClient,
) -> None:
    signed_in = await dashboard.post(
        "/espace/connexion", data={"token": "rev"}, headers={"Origin": str(dashboard.base_url)}
    )
    assert signed_in.status_code == 303, signed_in.text
    for query in ("A\x00B", "A\x07"):
        response = await dashboard.get("/espace/dossier", params={"q": query})
        assert response.status_code == 422, response.text
        assert query not in response.text
    form = await dashboard.get("/espace/dossier")
    assert form.status_code == 200
