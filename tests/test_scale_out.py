"""Two candidature and two notification instances in one consumer group each: one of
each is SIGKILLed in the middle of a burst, and still every application is received
and acknowledged by email exactly once."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from ifuno_shared.calendar import default_calendar
from ifuno_shared.messaging.edge import SUBSCRIPTIONS
from ifuno_tools.chaos.mail import audit_mail
from ifuno_tools.demo import portal
from ifuno_tools.demo.observe import Quiescence
from ifuno_tools.demo.population import population
from ifuno_tools.demo.processes import ServiceFleet
from ifuno_tools.local.stack import LocalInfrastructure

SMTP_CONNECTIONS = 1
"""The dispatcher's default `IFUNO_NOTIFICATION_SMTP_CONNECTIONS`."""

pytestmark = pytest.mark.e2e

CAMPAIGN, BURST = 2027, 300
ADMIN = {"Authorization": "Bearer demo-admin"}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[LocalInfrastructure, ServiceFleet]]:
    infrastructure = LocalInfrastructure(tmp_path / "infrastructure", keep_mail_files=False)
    infrastructure.start()
    calendar = default_calendar(CAMPAIGN)
    environment = {
        **infrastructure.environment(),
        "IFUNO_CLOCK": "simulated",
        "IFUNO_CLOCK_START": calendar.main_submissions_open.isoformat(),
        "IFUNO_CAMPAIGN": str(CAMPAIGN),
        # What a killed instance had claimed is taken over once its lease lapses.
        "IFUNO_NOTIFICATION_CLAIM_LEASE": "10",
        # The production pacing (the test session turns it off elsewhere).
        "IFUNO_KAFKA_CONSUMER_LINGER_MS": "100",
        "IFUNO_OUTBOX_RELAY_LINGER_MS": "100",
    }
    fleet = ServiceFleet(
        tmp_path,
        environment,
        instances={"candidature": 2, "notification": 2},
        session_timeout_ms=3000,
    )
    try:
        fleet.start()
        yield infrastructure, fleet
    finally:
        fleet.stop()
        infrastructure.stop()


async def test_killing_one_instance_of_each_mid_burst_loses_and_repeats_nothing(
    stack: tuple[LocalInfrastructure, ServiceFleet],
) -> None:
    infrastructure, fleet = stack
    await fleet.wait_ready(timeout=120)
    calendar = default_calendar(CAMPAIGN)
    now = calendar.main_submissions_open + timedelta(days=2)
    profiles = population(BURST, 5, calendar)
    for profile in profiles:  # every file complete, on time, in the main round
        profile.submitted_at = now - timedelta(minutes=profile.index % 600)
        profile.missing = []
        profile.diploma_years = 5
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{fleet.url('timeline')}/v1/clock", json={"now": now.isoformat()}, headers=ADMIN
        )
        response.raise_for_status()
    watched = {g: t for g, t in SUBSCRIPTIONS.items() if g in fleet.services}
    quiescence = Quiescence(infrastructure.broker.bootstrap, watched)
    await quiescence.start()
    sender = portal.Portal(infrastructure.broker.bootstrap)
    await sender.start()
    try:
        await quiescence.settle(timeout=60)
        await asyncio.sleep(4)  # both members of each group have joined (3 s sessions)
        events = [portal.submission(p, CAMPAIGN) for p in profiles]
        await sender.send(events[: BURST // 2])
        while len(infrastructure.smtp.messages) < BURST // 6:
            await asyncio.sleep(0.05)
        for name in ("candidature-2", "notification-2"):
            await asyncio.to_thread(fleet.kill, name, signal.SIGKILL)
        await sender.send(events[BURST // 2 :])
        await quiescence.settle(timeout=120)
        async with asyncio.timeout(120):
            while True:
                audit = await audit_mail(infrastructure.smtp, infrastructure.dsn("notification"))
                received = {
                    r.application_id
                    for r in audit.recorded.values()
                    if r.template == "application_received" and audit.received[r.message_id]
                }
                # A message the killed instance had claimed goes out once its lease
                # (10 s here) lapses: every recorded message, not only the first ones.
                if len(received) == BURST and not audit.lost:
                    break
                await asyncio.sleep(0.5)
    finally:
        await sender.stop()
        await quiescence.stop()
    assert received == {p.application_id for p in profiles}
    assert audit.lost == [], f"{len(audit.lost)} emails never arrived"
    assert audit.unknown == 0
    # The dispatcher's crash window (services/notification/README.md): a killed
    # instance resends at most the one message per SMTP connection whose acceptance it
    # had not recorded yet; one notification instance is killed here.
    assert len(audit.duplicated) <= SMTP_CONNECTIONS, audit.duplicated
