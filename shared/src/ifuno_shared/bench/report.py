"""Statistics of one run, the median of several, and the files we keep (JSON, PNG)."""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from ifuno_shared.bench.probes import LagSample


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
    )


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
    """Lag over time per consumer group, one panel per system (median runs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(runs), figsize=(6 * len(runs), 4), squeeze=False)
    for axis, (name, run) in zip(axes[0], runs.items(), strict=True):
        groups = sorted({key for point in run.lag for key in point if key != "t"})
        for group in groups:
            axis.plot(
                [point["t"] for point in run.lag],
                [point.get(group, 0) for point in run.lag],
                label=group,
            )
        axis.set_title(f"{name}: {run.throughput:.0f} applications/s, p95 {run.p95_ms:.0f} ms")
        axis.set_xlabel("seconds since the first submission")
        axis.set_ylabel("consumer lag (records)")
        axis.legend(fontsize="small")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
