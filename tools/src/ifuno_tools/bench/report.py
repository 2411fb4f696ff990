"""Statistics of one run, the median of several, and the files we keep (JSON, PNG)."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from ifuno_tools.bench.probes import LagSample


@dataclass
class RunResult:
    system: str
    count: int
    delivered: int
    seconds: float
    throughput: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    lag: list[dict[str, object]]
    per_second: list[dict[str, object]]
    """Each second of the run: acknowledgements received in it, and applications sent
    but not yet acknowledged at its end (the pipeline's backlog)."""


def summarise(
    system: str,
    sent_at: dict[str, float],
    arrivals: dict[str, float],
    lag: list[LagSample],
) -> RunResult:
    latencies = sorted(
        (arrivals[recipient] - sent) * 1000
        for recipient, sent in sent_at.items()
        if recipient in arrivals
    )
    start = min(sent_at.values())
    end = max(arrivals[r] for r in sent_at if r in arrivals)
    seconds = end - start

    def quantile(q: float) -> float:
        return latencies[min(int(q * len(latencies)), len(latencies) - 1)]

    return RunResult(
        system=system,
        count=len(sent_at),
        delivered=len(latencies),
        seconds=round(seconds, 3),
        throughput=round(len(latencies) / seconds, 1),
        p50_ms=round(quantile(0.50), 1),
        p95_ms=round(quantile(0.95), 1),
        p99_ms=round(quantile(0.99), 1),
        lag=[{"t": round(sample.at, 2), **sample.lag} for sample in lag],
        per_second=_per_second(start, sent_at, arrivals),
    )


def _per_second(
    start: float, sent_at: dict[str, float], arrivals: dict[str, float]
) -> list[dict[str, object]]:
    sent = Counter(int(at - start) for at in sent_at.values())
    acknowledged = Counter(int(arrivals[r] - start) for r in sent_at if r in arrivals)
    seconds = max([*sent, *acknowledged], default=-1) + 1
    series: list[dict[str, object]] = []
    in_flight = 0
    for second in range(seconds):
        in_flight += sent[second] - acknowledged[second]
        series.append({"t": second, "acknowledged": acknowledged[second], "in_flight": in_flight})
    return series


def median_run(runs: list[RunResult]) -> RunResult:
    """The run of median throughput (its latencies and lag curve stay consistent)."""
    ordered = sorted(runs, key=lambda run: run.throughput)
    return ordered[len(ordered) // 2]


def write_json(path: Path, payload: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def as_dict(run: RunResult) -> dict[str, object]:
    return asdict(run)


def throughput_spread(runs: list[RunResult]) -> dict[str, float]:
    values = [run.throughput for run in runs]
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def plot(path: Path, runs: dict[str, RunResult]) -> None:
    """Per system (median runs): acknowledgements per second and the backlog above,
    consumer lag per group below, on the same time axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(
        2, len(runs), figsize=(6 * len(runs), 7), squeeze=False, sharex="col"
    )
    for column, (name, run) in enumerate(runs.items()):
        top, bottom = axes[0][column], axes[1][column]
        seconds = [point["t"] for point in run.per_second]
        top.plot(seconds, [p["acknowledged"] for p in run.per_second], color="tab:blue")
        top.set_ylabel("acknowledged per second", color="tab:blue")
        backlog = top.twinx()
        backlog.plot(seconds, [p["in_flight"] for p in run.per_second], color="tab:orange")
        backlog.set_ylabel("in flight (sent, not acknowledged)", color="tab:orange")
        top.set_title(f"{name}: {run.throughput:.0f} applications/s, p95 {run.p95_ms:.0f} ms")
        groups = sorted({key for point in run.lag for key in point if key != "t"})
        for group in groups:
            bottom.plot(
                [point["t"] for point in run.lag],
                [point.get(group, 0) for point in run.lag],
                label=group,
            )
        bottom.set_xlabel("seconds since the first submission")
        bottom.set_ylabel("consumer lag (records)")
        if groups:
            bottom.legend(fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
