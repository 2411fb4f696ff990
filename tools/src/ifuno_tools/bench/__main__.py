"""`make bench`: the platform's throughput, latency and cost against a raw baseline.

Both systems run in the same invocation on the same machine, each on fresh
servers for every run, against the same C mail sink (Postfix's smtp-sink):
- burst: N complete applications sent as fast as the portal can;
- steady: an open loop at each rate in turn (arrivals at fixed instants, never
  waiting on the system), p50/p95/p99 per rate and the highest rate held with
  p99 <= 1 s.
Latency is from each portal event to its acknowledgement email accepted by the
sink. Each phase also records CPU time per application and peak RSS of every
process (services or hops, PostgreSQL, the broker, the sink).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ifuno_shared.calendar import PARIS
from ifuno_shared.messaging.edge import SUBSCRIPTIONS, LagReader

from ifuno_tools.bench.baseline import TOPICS
from ifuno_tools.bench.load import (
    PORTAL_TOPIC,
    Sent,
    baseline_record,
    burst,
    candidate_email,
    open_loop,
    schedule,
    submission_record,
)
from ifuno_tools.bench.probes import Watch, lag_between
from ifuno_tools.bench.procstat import ProcessProbe, cpu_per_application_ms
from ifuno_tools.bench.report import (
    RateResult,
    RunResult,
    SteadyRun,
    as_dict,
    held_rate_of,
    median_rates,
    median_run,
    per_second,
    plot_lag,
    plot_latency,
    plot_throughput,
    summarise,
    summarise_rate,
    throughput_spread,
    write_json,
)
from ifuno_tools.bench.sink import (
    PostfixTools,
    SinkMailbox,
    SinkUnavailable,
    SmtpSink,
    ceiling,
    postfix_tools,
    tmpfs_dir,
)
from ifuno_tools.demo.processes import SERVICES, ServiceFleet
from ifuno_tools.local import LocalKafkaBroker, LocalPostgres
from ifuno_tools.local.lifetime import terminate
from ifuno_tools.local.stack import LocalInfrastructure

WARM_UP = 6
CAMPAIGN = 2027
SUBMITTED_AT = datetime(2027, 5, 14, 20, 0, tzinfo=PARIS)  # the last hours before the deadline
SYSTEMS = ("baseline", "platform")
LIMIT_MS = 1000.0


def smtp_connections() -> int:
    """The platform dispatcher's SMTP connections; the baseline uses as many."""
    return int(os.environ.get("IFUNO_NOTIFICATION_SMTP_CONNECTIONS", "8"))


@dataclass
class Stack:
    """One system on its own fresh servers, warmed up and watched."""

    system: str
    bootstrap: str
    topic: str
    record: Callable[[int], bytes]
    watch: Watch
    probe: ProcessProbe
    next_index: int = 0

    def take(self, count: int) -> dict[int, bytes]:
        """The next `count` applications, encoded (before any clock starts)."""
        indexes = range(self.next_index, self.next_index + count)
        self.next_index += count
        return {index: self.record(index) for index in indexes}

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far per process, with the benchmark's own mail reading."""
        return {**self.probe.cpu(), "bench (mail reading)": self.watch.mailbox.cpu_seconds}


def _postmaster_pid(data_dir: Path | None) -> int | None:
    try:
        return int((Path(data_dir or "") / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _pids(**candidates: int | None) -> dict[str, int]:
    return {name.replace("_", "-"): pid for name, pid in candidates.items() if pid is not None}


async def _warm_up(stack: Stack) -> None:
    """Consumer groups joined, connections open: the first measured phase starts warm."""
    records = stack.take(WARM_UP)
    await burst(stack.bootstrap, stack.topic, records)
    if not await stack.watch.wait_all({candidate_email(i) for i in records}, timeout=120):
        raise RuntimeError(f"{stack.system}: no acknowledgement of the warm-up within 120 s")


@contextlib.asynccontextmanager
async def _sink(tools: PostfixTools) -> AsyncIterator[SmtpSink]:
    folder = Path(tempfile.mkdtemp(prefix="ifuno-bench-mail-", dir=tmpfs_dir()))
    sink = SmtpSink(folder, tools)
    try:
        sink.start()
        yield sink
    finally:
        sink.stop()
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def _watched(
    system: str,
    bootstrap: str,
    topic: str,
    record: Callable[[int], bytes],
    sink: SmtpSink,
    reader: LagReader,
    pids: dict[str, int],
) -> AsyncIterator[Stack]:
    watch = Watch(SinkMailbox(sink.dump_dir), reader)
    await watch.start()
    try:
        stack = Stack(system, bootstrap, topic, record, watch, ProcessProbe(pids))
        await _warm_up(stack)
        yield stack
    finally:
        await watch.stop()


@contextlib.asynccontextmanager
async def baseline_stack(
    folder: Path, tools: PostfixTools, instances: dict[str, int]
) -> AsyncIterator[Stack]:
    """`instances` concerns the platform only: the baseline's hops are one process each."""
    postgres = LocalPostgres(folder / "postgres")
    broker = LocalKafkaBroker(log_file=folder / "broker.log")
    hops: list[subprocess.Popen[bytes]] = []
    postgres.start()
    broker.start()
    try:
        async with _sink(tools) as sink:
            await broker.create_topics(list(TOPICS))
            postgres.create_database("bench")
            environment = {
                **os.environ,
                "BENCH_KAFKA_BOOTSTRAP": broker.bootstrap,
                "BENCH_DATABASE_DSN": f"postgresql://postgres@/bench?host={postgres.socket_dir}",
                "BENCH_SMTP_HOST": sink.host,
                "BENCH_SMTP_PORT": str(sink.port),
                "BENCH_SMTP_CONNECTIONS": str(smtp_connections()),
            }
            command = [sys.executable, "-m", "ifuno_tools.bench.baseline"]
            hops = [
                subprocess.Popen([*command, str(hop)], env=environment)  # noqa: ASYNC220
                for hop in (1, 2, 3)
            ]
            reader = LagReader(
                broker.bootstrap, {f"baseline-hop{n + 1}": {TOPICS[n]} for n in range(3)}
            )
            pids = _pids(
                hop1=hops[0].pid,
                hop2=hops[1].pid,
                hop3=hops[2].pid,
                postgresql=_postmaster_pid(postgres.data_dir),
                kafka=broker.pid,
                smtp_sink=sink.pid,
            )
            async with _watched(
                "baseline", broker.bootstrap, TOPICS[0], baseline_record, sink, reader, pids
            ) as stack:
                yield stack
    finally:
        for hop in hops:
            terminate(hop)
        broker.stop()
        postgres.stop()


@contextlib.asynccontextmanager
async def platform_stack(
    folder: Path, tools: PostfixTools, instances: dict[str, int]
) -> AsyncIterator[Stack]:
    # The infrastructure's own SMTP capture (aiosmtpd) stays idle: mail goes to the sink.
    infrastructure = LocalInfrastructure(folder, keep_mail_files=False)
    await asyncio.to_thread(infrastructure.start)
    fleet: ServiceFleet | None = None
    try:
        async with _sink(tools) as sink:
            environment = {
                **infrastructure.environment(),
                "IFUNO_SMTP_HOST": sink.host,
                "IFUNO_SMTP_PORT": str(sink.port),
                "IFUNO_NOTIFICATION_SMTP_CONNECTIONS": str(smtp_connections()),
                "IFUNO_CLOCK": "simulated",
                "IFUNO_CLOCK_START": SUBMITTED_AT.isoformat(),
                "IFUNO_CAMPAIGN": str(CAMPAIGN),
            }
            fleet = ServiceFleet(folder, environment, instances=instances)
            fleet.start()
            await fleet.wait_ready()
            watched = {
                name: topics for name, topics in SUBSCRIPTIONS.items() if name in fleet.services
            }
            reader = LagReader(infrastructure.broker.bootstrap, watched)
            pids = {
                name: service.process.pid
                for name, service in fleet.services.items()
                if service.process is not None
            } | _pids(
                postgresql=_postmaster_pid(infrastructure.postgres.data_dir),
                kafka=infrastructure.broker.pid,
                smtp_sink=sink.pid,
            )
            async with _watched(
                "platform",
                infrastructure.broker.bootstrap,
                PORTAL_TOPIC,
                lambda n: submission_record(n, CAMPAIGN, SUBMITTED_AT),
                sink,
                reader,
                pids,
            ) as stack:
                yield stack
    finally:
        if fleet is not None:
            fleet.stop()
        infrastructure.stop()


STACKS = {"baseline": baseline_stack, "platform": platform_stack}


def _arrivals(stack: Stack, expected: dict[str, float]) -> dict[str, float]:
    first = stack.watch.mailbox.first
    return {recipient: first[recipient] for recipient in expected if recipient in first}


async def burst_phase(stack: Stack, count: int, timeout: float, label: str) -> RunResult:
    records = stack.take(count)
    sent = Sent()
    expected = {candidate_email(index) for index in records}
    stack.watch.phase(label, expected, sent)
    stack.probe.reset_peaks()
    before, emails = stack.cpu(), stack.watch.mailbox.messages
    started = time.time()
    sent_at = await burst(stack.bootstrap, stack.topic, records, sent)
    if not await stack.watch.wait_all(expected, timeout):
        print(f"[{label}] not every application acknowledged within {timeout:.0f} s")
    result = summarise(
        stack.system,
        sent_at,
        _arrivals(stack, sent_at),
        lag_between(stack.watch.samples, started, time.time()),
    )
    result.cpu_ms_per_application = cpu_per_application_ms(before, stack.cpu(), result.delivered)
    result.peak_rss_mib = stack.probe.peaks_mib()
    result.emails_accepted = stack.watch.mailbox.messages - emails
    return result


async def steady_phases(
    stack: Stack, rates: list[float], duration: float, drain: float, label: str
) -> SteadyRun:
    """The rates in turn on the same stack, each once the previous one has drained."""
    results: list[RateResult] = []
    scheduled_all: dict[str, float] = {}
    started = time.time()
    for rate in rates:
        records = stack.take(round(rate * duration))
        sent = Sent()
        expected = {candidate_email(index) for index in records}
        stack.watch.phase(f"{label} {rate:g}/s", expected, sent)
        stack.probe.reset_peaks()
        before, emails = stack.cpu(), stack.watch.mailbox.messages
        instants = schedule(rate, duration, time.time() + 0.2)
        scheduled, lateness = await open_loop(stack.bootstrap, stack.topic, records, instants, sent)
        drained = await stack.watch.wait_all(expected, drain)
        result = summarise_rate(
            rate, duration, scheduled, _arrivals(stack, scheduled), lateness, drained
        )
        result.cpu_ms_per_application = cpu_per_application_ms(
            before, stack.cpu(), result.delivered
        )
        result.peak_rss_mib = stack.probe.peaks_mib()
        result.emails_accepted = stack.watch.mailbox.messages - emails
        results.append(result)
        scheduled_all |= scheduled
        print(_rate_line(label, result), flush=True)
        if not drained:
            print(f"[{label}] backlog not drained within {drain:.0f} s: higher rates skipped")
            break
    return SteadyRun(
        stack.system,
        results,
        per_second(started, scheduled_all, _arrivals(stack, scheduled_all)),
        [
            {"t": round(s.at, 2), **s.lag}
            for s in lag_between(stack.watch.samples, started, time.time())
        ],
    )


async def run_burst(
    system: str, folder: Path, tools: PostfixTools, args: Namespace, label: str
) -> RunResult:
    async with STACKS[system](folder, tools, args.instances) as stack:
        return await burst_phase(stack, args.count, args.timeout, label)


async def run_steady(
    system: str, folder: Path, tools: PostfixTools, args: Namespace, label: str
) -> SteadyRun:
    async with STACKS[system](folder, tools, args.instances) as stack:
        return await steady_phases(stack, args.rates, args.duration, args.drain, label)


class Namespace(argparse.Namespace):
    mode: str
    count: int
    rates: list[float]
    duration: float
    drain: float
    runs: int
    systems: list[str]
    instances: dict[str, int]
    timeout: float
    out: Path


def _ms(value: float | None) -> str:
    return "not reached" if value is None else f"{value:,.0f} ms"


def _rate_line(label: str, result: RateResult) -> str:
    return (
        f"[{label}] {result.rate:g}/s: {result.delivered}/{result.count} acknowledged, "
        f"p50 {_ms(result.p50_ms)}, p95 {_ms(result.p95_ms)}, p99 {_ms(result.p99_ms)}, "
        f"sends late by {result.late_max_ms:.0f} ms at most"
    )


def _parse_rates(text: str) -> list[float]:
    try:
        rates = sorted({float(rate) for rate in text.split(",") if rate.strip()})
    except ValueError:
        rates = []
    if not rates or rates[0] <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: positive numbers separated by commas")
    return rates


def _positive(kind: type[int] | type[float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            value = 0
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r}: a positive {kind.__name__} is needed")
        return value

    return parse


def _parse_systems(text: str) -> list[str]:
    systems = [name.strip() for name in text.split(",") if name.strip()]
    unknown = set(systems) - set(SYSTEMS)
    if unknown or not systems:
        raise argparse.ArgumentTypeError(f"systems: among {', '.join(SYSTEMS)}")
    return systems


def _parse_instances(text: str) -> dict[str, int]:
    """`notification=2,candidature=2`: the platform's services run that many times."""
    instances: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        service, _, count = item.partition("=")
        if service not in SERVICES or not count.isdigit() or int(count) < 1:
            raise argparse.ArgumentTypeError(
                f"{item!r}: SERVICE=COUNT, SERVICE among {', '.join(SERVICES)}"
            )
        instances[service] = int(count)
    return instances


def parse_args(argv: list[str] | None) -> Namespace:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--mode", choices=("burst", "steady", "all"), default="all")
    parser.add_argument(
        "--count", type=_positive(int), default=20_000, help="applications in the burst"
    )
    parser.add_argument(
        "--rates",
        type=_parse_rates,
        default=[50.0, 100.0, 200.0, 400.0],
        help="steady arrival rates, applications/s (default 50,100,200,400)",
    )
    parser.add_argument(
        "--duration", type=_positive(float), default=60, help="seconds at each rate"
    )
    parser.add_argument(
        "--drain",
        type=_positive(float),
        default=120,
        help="seconds a rate's backlog may take to clear",
    )
    parser.add_argument(
        "--runs", type=_positive(int), default=3, help="runs of each system (median)"
    )
    parser.add_argument(
        "--systems", type=_parse_systems, default=list(SYSTEMS), help="baseline,platform"
    )
    parser.add_argument(
        "--instances",
        type=_parse_instances,
        default={},
        help="platform services run several times, e.g. notification=2 (one each by default)",
    )
    parser.add_argument(
        "--timeout", type=_positive(float), default=1800, help="seconds per burst at most"
    )
    parser.add_argument("--out", type=Path, default=Path("docs/bench"), help="JSON and PNG here")
    return parser.parse_args(argv, namespace=Namespace())


def _machine() -> dict[str, object]:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _print_tables(bursts: dict[str, list[RunResult]], steady: dict[str, list[SteadyRun]]) -> None:
    if bursts:
        print("\nburst (median run by throughput)")
        print(f"{'system':<10}{'applications/s (min-max)':>28}{'p50':>12}{'p95':>12}{'p99':>12}")
        for name, runs in bursts.items():
            run, spread = median_run(runs), throughput_spread(runs)
            throughput = f"{run.throughput:.0f} ({spread['min']:.0f}-{spread['max']:.0f})"
            print(
                f"{name:<10}{throughput:>28}"
                f"{_ms(run.p50_ms):>12}{_ms(run.p95_ms):>12}{_ms(run.p99_ms):>12}"
            )
    for name, steady_runs in steady.items():
        medians = median_rates([run.rates for run in steady_runs])
        held = held_rate_of(medians, LIMIT_MS)
        print(f"\nsteady, {name} (medians of {len(steady_runs)} runs)")
        print(f"{'rate/s':>8}{'p50':>14}{'p95':>14}{'p99':>14}  acknowledged (each run)")
        for rate in medians:
            delivered = ", ".join(
                f"{d}/{c}" for d, c in zip(rate.delivered, rate.count, strict=True)
            )
            print(
                f"{rate.rate:>8g}{_ms(rate.p50_ms):>14}{_ms(rate.p95_ms):>14}"
                f"{_ms(rate.p99_ms):>14}  {delivered}"
            )
        print(f"highest rate held with p99 <= 1 s: {f'{held:g}/s' if held else 'none'}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        tools = postfix_tools()
    except SinkUnavailable as error:
        raise SystemExit(str(error)) from error
    print(f"mail sink: {tools.sink}; measuring its ceiling (smtp-source, 20,000 messages)")
    sink_ceiling = {"plain": ceiling(tools, dump=False), "dump": ceiling(tools, dump=True)}
    for name, figures in sink_ceiling.items():
        print(f"  smtp-sink {name}: {figures['messages_per_second']:,} messages/s")
    bursts: dict[str, list[RunResult]] = {}
    steady: dict[str, list[SteadyRun]] = {}
    for run in range(args.runs):
        for system in args.systems:
            if args.mode in ("burst", "all"):
                label = f"{system} run {run + 1} burst"
                with tempfile.TemporaryDirectory(prefix=f"ifuno-bench-{system}-") as folder:
                    result = asyncio.run(run_burst(system, Path(folder), tools, args, label))
                bursts.setdefault(system, []).append(result)
                print(
                    f"[{label}] {result.delivered}/{result.count} in {result.seconds:.1f} s: "
                    f"{result.throughput:.1f} applications/s, p50 {_ms(result.p50_ms)}, "
                    f"p95 {_ms(result.p95_ms)}, p99 {_ms(result.p99_ms)}",
                    flush=True,
                )
            if args.mode in ("steady", "all"):
                label = f"{system} run {run + 1} steady"
                with tempfile.TemporaryDirectory(prefix=f"ifuno-bench-{system}-") as folder:
                    steady_run = asyncio.run(run_steady(system, Path(folder), tools, args, label))
                steady.setdefault(system, []).append(steady_run)
    _print_tables(bursts, steady)
    payload = _payload(args, sink_ceiling, bursts, steady)
    write_json(args.out / "results.json", payload)
    burst_medians = {name: median_run(runs) for name, runs in bursts.items()}
    steady_medians = {name: runs[len(runs) // 2] for name, runs in steady.items()}
    plot_throughput(args.out / "throughput.png", burst_medians, steady_medians)
    plot_lag(args.out / "lag.png", burst_medians, steady_medians)
    if steady:
        plot_latency(
            args.out / "latency.png",
            {name: median_rates([r.rates for r in runs]) for name, runs in steady.items()},
            LIMIT_MS,
        )
    print(f"results in {args.out}")


def _payload(
    args: Namespace,
    sink_ceiling: dict[str, dict[str, float | int | bool]],
    bursts: dict[str, list[RunResult]],
    steady: dict[str, list[SteadyRun]],
) -> dict[str, object]:
    payload: dict[str, object] = {
        "date": datetime.now(PARIS).isoformat(timespec="seconds"),
        "machine": _machine(),
        "options": {
            "mode": args.mode,
            "count": args.count,
            "rates": args.rates,
            "duration_s": args.duration,
            "drain_s": args.drain,
            "runs": args.runs,
            "systems": args.systems,
            "instances": args.instances,
            "smtp_connections": smtp_connections(),
        },
        "sink": {"program": "Postfix smtp-sink", "ceiling": sink_ceiling},
    }
    if bursts:
        medians = {name: median_run(runs) for name, runs in bursts.items()}
        ratio = (
            round(medians["platform"].throughput / medians["baseline"].throughput, 3)
            if {"platform", "baseline"} <= medians.keys() and medians["baseline"].throughput
            else None
        )
        payload["burst"] = {
            "ratio_platform_to_baseline": ratio,
            "throughput": {name: throughput_spread(runs) for name, runs in bursts.items()},
            "median_runs": {name: as_dict(run) for name, run in medians.items()},
            "runs": {name: [as_dict(run) for run in runs] for name, runs in bursts.items()},
        }
    if steady:
        summary: dict[str, object] = {}
        for name, runs in steady.items():
            medians_by_rate = median_rates([run.rates for run in runs])
            summary[name] = {
                "held_rate": held_rate_of(medians_by_rate, LIMIT_MS),
                "held_rate_per_run": [run.held_rate for run in runs],
                "rates": [as_dict(rate) for rate in medians_by_rate],
                "runs": [
                    {
                        "rates": [as_dict(rate) for rate in run.rates],
                        "per_second": run.per_second,
                        "lag": run.lag,
                    }
                    for run in runs
                ],
            }
        payload["steady"] = {"limit_p99_ms": LIMIT_MS, **summary}
    return payload


if __name__ == "__main__":
    main()
