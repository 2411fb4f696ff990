"""The scripted adversary: seeded faults at seeded moments of the season, one at a time,
each followed by a measure of how long the platform takes to be whole again."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from dataclasses import dataclass, field

import asyncpg
import httpx

from ifuno_tools.chaos.resilient import PatientQuiescence
from ifuno_tools.demo.processes import SERVICES, ServiceFleet
from ifuno_tools.local.stack import LocalInfrastructure

RECOVERY_LIMIT = 120.0
"""Seconds after a fault's end after which it counts as not recovered."""

CONSUMER_GROUPS = {
    "candidature": ("candidature",),
    "selection": ("selection",),
    "notification": ("notification",),
    "dashboard": ("dashboard",),
    "timeline": (),
}


@dataclass
class Fault:
    kind: str
    """sigkill, sigterm, postgres-restart, broker-outage, smtp-outage, sms-errors."""
    target: str
    """An instance name for a signal, else the server."""
    day: int
    """The season's day (from its first) on which it strikes."""
    duration: float = 0.0
    """Seconds the server stays away (a killed service is restarted after it)."""
    delay: float = 0.0
    """Seconds into that day's step."""
    affected: tuple[str, ...] = ()
    """The services whose recovery is awaited."""
    injected_at: float | None = None
    ended_at: float | None = None
    recovered_at: float | None = None
    note: str = ""

    @property
    def label(self) -> str:
        seconds = f" {self.duration:.0f} s" if self.duration >= 1 else ""
        return f"{self.kind} {self.target}{seconds}"

    @property
    def recovered(self) -> bool:
        return self.recovered_at is not None

    @property
    def recovery_seconds(self) -> float | None:
        if self.recovered_at is None or self.ended_at is None:
            return None
        return self.recovered_at - self.ended_at

    def window(self) -> tuple[float, float]:
        """When messages caused or delayed by this fault arrive (for attributing them)."""
        start = self.injected_at or 0.0
        end = (self.recovered_at or self.ended_at or start) + 5.0
        return start, end


def plan(seed: int, days: int, *, short: bool, fleet_names: list[str]) -> list[Fault]:
    """The faults, on distinct seeded days, in a seeded order."""
    rng = random.Random(seed * 7919 + 1)
    present = [s for s in SERVICES if s in fleet_names]
    everyone = tuple(present)
    faults: list[Fault]
    if short:
        faults = [
            Fault("sigkill", "selection", 0, 1.0, affected=("selection",)),
            Fault("sigkill", "notification", 0, 1.0, affected=("notification",)),
            Fault("postgres-restart", "postgresql", 0, affected=everyone),
            Fault("smtp-outage", "smtp", 0, 10.0, affected=("notification",)),
        ]
    else:
        faults = [Fault("sigkill", name, 0, 2.0, affected=(name,)) for name in present]
        victim = rng.choice(present)
        faults += [
            Fault("sigterm", victim, 0, 2.0, affected=(victim,)),
            Fault("postgres-restart", "postgresql", 0, affected=everyone),
            Fault("broker-outage", "broker", 0, 20.0, affected=everyone),
            Fault("smtp-outage", "smtp", 0, 30.0, affected=("notification",)),
            Fault("sms-errors", "sms-gateway", 0, 30.0, affected=("notification",)),
        ]
    rng.shuffle(faults)
    margin = 3
    chosen = sorted(rng.sample(range(margin, days - margin), len(faults)))
    for fault, day in zip(faults, chosen, strict=True):
        fault.day = day
        fault.delay = round(rng.uniform(0.0, 1.5), 2)
    return faults


@dataclass
class Adversary:
    faults: list[Fault]
    fleet: ServiceFleet
    infrastructure: LocalInfrastructure
    lag: PatientQuiescence
    day: int = 0
    _moved: asyncio.Event = field(default_factory=asyncio.Event)

    def reached(self, day: int) -> None:
        """The conductor calls this as each day starts."""
        self.day = day
        self._moved.set()

    async def run(self) -> None:
        for fault in self.faults:
            while self.day < fault.day:
                self._moved.clear()
                await self._moved.wait()
            await asyncio.sleep(fault.delay)
            await self._strike(fault)
            await self._await_recovery(fault)

    async def _strike(self, fault: Fault) -> None:
        fault.injected_at = time.perf_counter()
        infrastructure, fleet = self.infrastructure, self.fleet
        match fault.kind:
            case "sigkill" | "sigterm":
                sig = signal.SIGKILL if fault.kind == "sigkill" else signal.SIGTERM
                await asyncio.to_thread(fleet.kill, fault.target, sig)
                await asyncio.sleep(fault.duration)
                fleet.restart(fault.target)
            case "postgres-restart":
                await asyncio.to_thread(infrastructure.postgres.restart)
            case "broker-outage":
                await asyncio.to_thread(infrastructure.broker.stop)
                await asyncio.sleep(fault.duration)
                await asyncio.to_thread(infrastructure.broker.start)
            case "smtp-outage":
                infrastructure.smtp.stop()
                await asyncio.sleep(fault.duration)
                infrastructure.smtp.start()
            case "sms-errors":
                infrastructure.sms.fail_next(1_000_000, status=500)
                await asyncio.sleep(fault.duration)
                infrastructure.sms.fail_next(0)
        fault.ended_at = time.perf_counter()

    async def _await_recovery(self, fault: Fault) -> None:
        """Recovered: every instance of the affected services answers /ready, their
        groups have consumed everything, and (for notification) no message is waiting
        to be sent any more."""
        deadline = time.monotonic() + RECOVERY_LIMIT
        instances = [i for s in fault.affected for i in self.fleet.of(s)]
        groups = {g for s in fault.affected for g in CONSUMER_GROUPS.get(s, ())}
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < deadline:
                if (
                    await _all_ready(http, [i.url for i in instances])
                    and await self._caught_up(groups)
                    and (
                        "notification" not in fault.affected
                        or await _nothing_waiting(self.infrastructure.dsn("notification"))
                    )
                ):
                    fault.recovered_at = time.perf_counter()
                    return
                await asyncio.sleep(0.25)
        fault.note = "not recovered within 120 s"

    async def _caught_up(self, groups: set[str]) -> bool:
        lag = await self.lag.lag_or_none()
        return lag is not None and not any(lag.get(group, 0) for group in groups)


async def _all_ready(http: httpx.AsyncClient, urls: list[str]) -> bool:
    for url in urls:
        try:
            if (await http.get(f"{url}/ready")).status_code != 200:
                return False
        except httpx.HTTPError:
            return False
    return True


async def _nothing_waiting(dsn: str) -> bool:
    """No message due and still pending (its retry time has come and gone)."""
    try:
        connection = await asyncpg.connect(dsn, timeout=2)
    except Exception:
        return False
    try:
        waiting = await connection.fetchval("SELECT count(*) FROM message WHERE status = 'pending'")
    except Exception:
        return False
    finally:
        await connection.close()
    return int(waiting) == 0
