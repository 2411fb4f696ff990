"""`make bench`: the platform's end-to-end throughput and latency against a raw baseline.

Both run in the same invocation on the same machine, each on fresh servers: a
burst of N complete applications sent as fast as the portal can, measured from
each portal event to the acknowledgement email accepted by the SMTP server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ifuno_shared.calendar import PARIS
from ifuno_shared.messaging.edge import SUBSCRIPTIONS, LagReader

from ifuno_tools.bench.baseline import TOPICS
from ifuno_tools.bench.load import (
    PORTAL_TOPIC,
    baseline_record,
    burst,
    candidate_email,
    submission_record,
)
from ifuno_tools.bench.probes import LagSampler
from ifuno_tools.bench.report import (
    RunResult,
    as_dict,
    median_run,
    plot,
    summarise,
    throughput_spread,
    write_json,
)
from ifuno_tools.demo.processes import ServiceFleet
from ifuno_tools.local import CapturingSmtpServer, LocalKafkaBroker, LocalPostgres
from ifuno_tools.local.stack import LocalInfrastructure

WARM_UP = 6
CAMPAIGN = 2027
SUBMITTED_AT = datetime(2027, 5, 14, 20, 0, tzinfo=PARIS)  # the last hours before the deadline


async def _wait_mail(smtp: CapturingSmtpServer, recipients: set[str], timeout: float) -> None:
    """Reads only the mail that arrived since the last look: a full scan every tick
    would cost the measured systems a share of the CPU that grows with N."""
    missing = {r.lower() for r in recipients}
    read = 0
    async with asyncio.timeout(timeout):
        while True:
            arrived = smtp.messages[read:]
            read += len(arrived)
            missing.difference_update(r.lower() for m in arrived for r in m.recipients)
            if not missing:
                return
            await asyncio.sleep(0.05)


def _arrivals(smtp: CapturingSmtpServer) -> dict[str, float]:
    first: dict[str, float] = {}
    for mail in smtp.messages:
        for recipient in mail.recipients:
            first.setdefault(recipient.lower(), mail.received_at)
    return first


async def _measure(
    name: str,
    bootstrap: str,
    topic: str,
    count: int,
    record: Callable[[int], bytes],
    smtp: CapturingSmtpServer,
    reader: LagReader,
    timeout: float,
) -> RunResult:
    """Warm up (consumer groups joined), then the burst, then wait for every email."""
    warm = {candidate_email(count + n) for n in range(WARM_UP)}
    await burst(bootstrap, topic, WARM_UP, lambda n: record(count + n))
    await _wait_mail(smtp, warm, timeout=120)
    started = time.perf_counter()
    sampler = LagSampler(reader, started)
    await sampler.start()
    try:
        sent_at = await burst(bootstrap, topic, count, record)
        await _wait_mail(smtp, set(sent_at), timeout=timeout)
    finally:
        await sampler.stop()
    return summarise(name, sent_at, _arrivals(smtp), sampler.samples)


async def run_baseline(count: int, folder: Path, timeout: float) -> RunResult:
    postgres = LocalPostgres(folder / "postgres")
    broker = LocalKafkaBroker(log_file=folder / "broker.log")
    smtp = CapturingSmtpServer()
    postgres.start()
    broker.start()
    smtp.start()
    hops: list[subprocess.Popen[bytes]] = []
    try:
        await broker.create_topics(list(TOPICS))
        postgres.create_database("bench")
        environment = {
            **os.environ,
            "BENCH_KAFKA_BOOTSTRAP": broker.bootstrap,
            "BENCH_DATABASE_DSN": f"postgresql://postgres@/bench?host={postgres.socket_dir}",
            "BENCH_SMTP_HOST": smtp.host,
            "BENCH_SMTP_PORT": str(smtp.port),
        }
        command = [sys.executable, "-m", "ifuno_tools.bench.baseline"]
        hops = [
            subprocess.Popen([*command, str(hop)], env=environment)  # noqa: ASYNC220
            for hop in (1, 2, 3)
        ]
        reader = LagReader(
            broker.bootstrap, {f"baseline-hop{n + 1}": {TOPICS[n]} for n in range(3)}
        )
        return await _measure(
            "baseline", broker.bootstrap, TOPICS[0], count, baseline_record, smtp, reader, timeout
        )
    finally:
        for hop in hops:
            hop.terminate()
            hop.wait()
        smtp.stop()
        broker.stop()
        postgres.stop()


async def run_platform(count: int, folder: Path, timeout: float) -> RunResult:
    infrastructure = LocalInfrastructure(folder, keep_mail_files=False)
    await asyncio.to_thread(infrastructure.start)
    environment = {
        **infrastructure.environment(),
        "IFUNO_CLOCK": "simulated",
        "IFUNO_CLOCK_START": SUBMITTED_AT.isoformat(),
        "IFUNO_CAMPAIGN": str(CAMPAIGN),
    }
    fleet = ServiceFleet(folder, environment)
    try:
        fleet.start()
        await fleet.wait_ready()
        watched = {name: topics for name, topics in SUBSCRIPTIONS.items() if name in fleet.services}
        reader = LagReader(infrastructure.broker.bootstrap, watched)
        return await _measure(
            "platform",
            infrastructure.broker.bootstrap,
            PORTAL_TOPIC,
            count,
            lambda n: submission_record(n, CAMPAIGN, SUBMITTED_AT),
            infrastructure.smtp,
            reader,
            timeout,
        )
    finally:
        fleet.stop()
        infrastructure.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--count", type=int, default=20_000, help="applications in the burst")
    parser.add_argument("--runs", type=int, default=3, help="runs of each system (median)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run at most")
    parser.add_argument("--out", type=Path, default=Path("docs/bench"), help="JSON and PNG here")
    args = parser.parse_args(argv)
    results: dict[str, list[RunResult]] = {"baseline": [], "platform": []}
    for run in range(args.runs):
        for name, runner in (("baseline", run_baseline), ("platform", run_platform)):
            with tempfile.TemporaryDirectory(prefix=f"ifuno-bench-{name}-") as folder:
                result = asyncio.run(runner(args.count, Path(folder), args.timeout))
            results[name].append(result)
            print(
                f"run {run + 1} {name:<9} {result.throughput:>8.1f} applications/s  "
                f"p50 {result.p50_ms:>8.1f} ms  p95 {result.p95_ms:>8.1f} ms  "
                f"p99 {result.p99_ms:>8.1f} ms",
                flush=True,
            )
    medians = {name: median_run(runs) for name, runs in results.items()}
    ratio = medians["platform"].throughput / medians["baseline"].throughput
    payload = {
        "date": datetime.now(PARIS).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "count": args.count,
        "runs": args.runs,
        "ratio_platform_to_baseline": round(ratio, 3),
        "throughput": {name: throughput_spread(runs) for name, runs in results.items()},
        "median_runs": {name: as_dict(run) for name, run in medians.items()},
    }
    write_json(args.out / "results.json", payload)
    plot(args.out / "lag.png", medians)
    print(f"platform / baseline throughput: {ratio:.2f}; results in {args.out}")


if __name__ == "__main__":
    main()
