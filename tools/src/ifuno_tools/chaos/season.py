"""One season on a fresh local stack, with or without the adversary, and its evidence."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from ifuno_shared.calendar import PARIS, default_calendar
from ifuno_shared.messaging.edge import SUBSCRIPTIONS

from ifuno_tools.chaos.adversary import Adversary, Fault, plan
from ifuno_tools.chaos.checks import (
    CapacityCheck,
    Views,
    check_capacity,
    dead_letters,
    read_views,
)
from ifuno_tools.chaos.mail import MailAudit, audit_mail
from ifuno_tools.chaos.resilient import PatientPortal, PatientQuiescence, patient_client
from ifuno_tools.demo.population import population
from ifuno_tools.demo.processes import ServiceFleet
from ifuno_tools.demo.season import Season
from ifuno_tools.local.smtp import CapturedMail
from ifuno_tools.local.stack import LocalInfrastructure

CAPACITIES = {"M1": 20, "M2": 24}
SESSION_TIMEOUT_MS = 3000


@dataclass
class Evidence:
    faults: list[Fault]
    audit: MailAudit
    views: Views
    capacity: CapacityCheck
    dead_letters: int
    sms_sent: int
    seconds: float
    pending_at_end: int = 0
    smtp_log: list[CapturedMail] = field(default_factory=list)
    """Every email the server accepted, in order (copies included)."""


@dataclass
class SeasonOptions:
    seed: int
    candidates: int
    campaign: int = 2027
    short: bool = False
    faults: bool = True
    instances: dict[str, int] = field(default_factory=dict)
    quiet: bool = False


async def _drained(infrastructure: LocalInfrastructure, timeout: float = 180.0) -> int:
    """Wait until notification has nothing pending; return what is still pending."""
    import asyncpg

    deadline = time.monotonic() + timeout
    pending = -1
    while time.monotonic() < deadline:
        connection = await asyncpg.connect(infrastructure.dsn("notification"))
        try:
            pending = int(
                await connection.fetchval("SELECT count(*) FROM message WHERE status = 'pending'")
            )
        finally:
            await connection.close()
        if pending == 0:
            return 0
        await asyncio.sleep(1.0)
    return pending


async def play_season(
    options: SeasonOptions, infrastructure: LocalInfrastructure, run_dir: Path
) -> Evidence:
    calendar = default_calendar(options.campaign)
    start = calendar.main_submissions_open - timedelta(days=6)
    environment = {
        **infrastructure.environment(),
        "IFUNO_CLOCK": "simulated",
        "IFUNO_CLOCK_START": start.isoformat(),
        "IFUNO_CAMPAIGN": str(options.campaign),
    }
    fleet = ServiceFleet(
        run_dir, environment, instances=options.instances, session_timeout_ms=SESSION_TIMEOUT_MS
    )
    began = time.monotonic()
    try:
        fleet.start()
        await fleet.wait_ready(timeout=180)
        urls = {name: fleet.url(name) for name in fleet.services}
        watched = {g: t for g, t in SUBSCRIPTIONS.items() if g in fleet.services}
        quiescence = PatientQuiescence(infrastructure.broker.bootstrap, watched)
        await quiescence.start()
        watcher = PatientQuiescence(infrastructure.broker.bootstrap, watched)
        await watcher.start()
        sender = PatientPortal(infrastructure.broker.bootstrap)
        await sender.start()
        profiles = population(options.candidates, options.seed, calendar)
        season = Season(calendar, profiles, urls, sender, quiescence, start)
        await season.http.aclose()
        season.http = patient_client()
        step = timedelta(days=2 if options.short else 1)
        end = calendar.academic_year_start + timedelta(days=1)
        days = -(-(end - start) // step)
        faults = (
            plan(options.seed, days, short=options.short, fleet_names=list(fleet.services))
            if options.faults
            else []
        )
        adversary = Adversary(faults, fleet, infrastructure, watcher)
        attack = asyncio.create_task(adversary.run())
        day = 0

        def progress(now: datetime, phases: str, actions: dict[str, int]) -> None:
            nonlocal day
            day += 1
            adversary.reached(day)
            if options.quiet:
                return
            struck = [f.label for f in faults if f.day == day]
            print(
                f"{time.monotonic() - began:6.1f}s  {now.astimezone(PARIS):%a %d %b}  "
                f"emails {len(infrastructure.smtp.messages):<5}"
                + (f"  << {', '.join(struck)}" if struck else ""),
                flush=True,
            )

        try:
            await season.play(progress, step)
            adversary.reached(days + 1)
            await asyncio.wait_for(attack, timeout=300)
            await quiescence.settle()
            pending = await _drained(infrastructure)
        finally:
            attack.cancel()
            await season.close()
            await sender.stop()
            await quiescence.stop()
            await watcher.stop()
        dsns = {name: infrastructure.dsn(name) for name in infrastructure.database_urls}
        return Evidence(
            faults=faults,
            audit=await audit_mail(infrastructure.smtp, dsns["notification"]),
            views=await read_views(dsns),
            capacity=await check_capacity(dsns["selection"], CAPACITIES),
            dead_letters=await dead_letters(dsns["dashboard"]),
            sms_sent=len(infrastructure.sms.messages),
            seconds=time.monotonic() - began,
            pending_at_end=pending,
            smtp_log=list(infrastructure.smtp.messages),
        )
    finally:
        fleet.stop()


def run_season(options: SeasonOptions, run_dir: Path) -> Evidence:
    """A fresh stack (durable broker storage, so a broker outage loses nothing)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    infrastructure = LocalInfrastructure(
        run_dir / "infrastructure", durable_kafka=True, keep_mail_files=False
    )
    infrastructure.start()
    try:
        return asyncio.run(play_season(options, infrastructure, run_dir))
    finally:
        infrastructure.stop()
