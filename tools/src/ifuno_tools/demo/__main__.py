"""`python -m ifuno_tools.demo`: play a whole admissions season on this machine."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from ifuno_shared.calendar import PARIS, default_calendar
from ifuno_shared.messaging.edge import SUBSCRIPTIONS

from ifuno_tools.demo.observe import Quiescence
from ifuno_tools.demo.population import population
from ifuno_tools.demo.portal import Portal
from ifuno_tools.demo.processes import ServiceFleet, parse_instances
from ifuno_tools.demo.report import SeasonReport, build_report
from ifuno_tools.demo.season import Season
from ifuno_tools.local.signals import StopSignals
from ifuno_tools.local.stack import LocalInfrastructure

CAPACITIES = {"M1": 20, "M2": 24}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--candidates", type=int, default=150, help="how many candidates apply")
    parser.add_argument("--seed", type=int, default=2027, help="seed of the random mix")
    parser.add_argument("--campaign", type=int, default=2027, help="the campaign year")
    parser.add_argument("--serve", action="store_true", help="keep serving after the season")
    parser.add_argument("--run-dir", type=Path, help="where logs and sample emails go")
    parser.add_argument(
        "--instances",
        type=parse_instances,
        default={},
        help="instances per service, e.g. candidature=2,notification=2 (one group each)",
    )
    parser.add_argument(
        "--up", action="store_true", help="no season: the stack with the real clock, serving"
    )
    return parser.parse_args(argv)


async def play(
    args: argparse.Namespace, infrastructure: LocalInfrastructure, run_dir: Path
) -> tuple[SeasonReport, ServiceFleet]:
    calendar = default_calendar(args.campaign)
    start = calendar.main_submissions_open - timedelta(days=6)
    environment = {
        **infrastructure.environment(),
        "IFUNO_CLOCK": "simulated",
        "IFUNO_CLOCK_START": start.isoformat(),
        "IFUNO_CAMPAIGN": str(args.campaign),
        "IFUNO_NOTIFICATION_OUTBOX_DIR": str(run_dir / "sample-emails"),
    }
    fleet = ServiceFleet(run_dir, environment, instances=getattr(args, "instances", {}))
    fleet.start()
    await fleet.wait_ready()
    urls = {name: fleet.url(name) for name in fleet.services}
    watched = {name: topics for name, topics in SUBSCRIPTIONS.items() if name in fleet.services}
    quiescence = Quiescence(infrastructure.broker.bootstrap, watched)
    await quiescence.start()
    sender = Portal(infrastructure.broker.bootstrap)
    await sender.start()
    profiles = population(args.candidates, args.seed, calendar)
    season = Season(calendar, profiles, urls, sender, quiescence, start)
    began = time.monotonic()

    def progress(now: datetime, phases: str, actions: dict[str, int]) -> None:
        summary = ", ".join(f"{k} {v}" for k, v in sorted(actions.items()))
        mail = len(infrastructure.smtp.messages)
        phase = f"  [{phases}]" if phases else ""
        print(
            f"{time.monotonic() - began:6.1f}s  {now.astimezone(PARIS):%a %d %b}  "
            f"emails {mail:<5} {summary}{phase}",
            flush=True,
        )

    try:
        await season.play(progress)
        await quiescence.settle()
        await asyncio.sleep(1.0)  # the notification dispatcher's last batch
        report = await build_report(
            urls, CAPACITIES, args.campaign, infrastructure.smtp, infrastructure.sms
        )
    finally:
        await season.close()
        await sender.stop()
        await quiescence.stop()
    return report, fleet


def serve_real_clock(
    infrastructure: LocalInfrastructure, run_dir: Path, instances: dict[str, int]
) -> None:
    """`make up`: every service with the real clock, for a programme to use."""
    environment = {
        **infrastructure.environment(),
        "IFUNO_CLOCK": "real",
        "IFUNO_NOTIFICATION_OUTBOX_DIR": str(run_dir / "sent-emails"),
    }
    fleet = ServiceFleet(run_dir, environment, instances=instances)
    try:
        fleet.start()
        asyncio.run(fleet.wait_ready())
        stop = StopSignals()
        for name, value in infrastructure.environment().items():
            print(f"{name}={value}")
        for name, service in fleet.services.items():
            print(f"  {name:<13} {service.url}")
        print("Staff tokens: demo-admin, demo-reviewer, demo-committee, demo-viewer")
        if "dashboard" in fleet.services:
            print(f"Staff workspace: {fleet.url('dashboard')}/espace")
        print("Serving with the real clock; Ctrl-C stops.", flush=True)
        stop.wait()
    finally:
        fleet.stop()


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="ifuno-demo-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    print(f"IFUNO admissions demo: {args.candidates} candidates, seed {args.seed}, in {run_dir}")
    infrastructure = LocalInfrastructure(run_dir / "infrastructure")
    infrastructure.start()
    if args.up:
        try:
            serve_real_clock(infrastructure, run_dir, args.instances)
        finally:
            infrastructure.stop()
        return
    fleet: ServiceFleet | None = None
    try:
        report, fleet = asyncio.run(play(args, infrastructure, run_dir))
        print(report.render())
        print(f"\nSample emails: {run_dir / 'sample-emails'}")
        print(f"Service logs:  {run_dir / 'logs'}")
        if "dashboard" in fleet.services:
            print(f"Dashboard:     {fleet.url('dashboard')}/ (sign in with demo-viewer)")
            print(
                f"Workspace:     {fleet.url('dashboard')}/espace (sign in with demo-reviewer, "
                "demo-committee or demo-admin)"
            )
        for name, service in fleet.services.items():
            print(f"  {name:<13} {service.url}")
        if args.serve:
            stop = StopSignals()
            print("Serving; Ctrl-C stops.", flush=True)
            stop.wait()
    finally:
        if fleet is not None:
            fleet.stop()
        infrastructure.stop()


if __name__ == "__main__":
    main()
