"""Statistics of one run, the median of several, and the files we keep (JSON, PNG).

Times are seconds of one clock (the benchmark uses the wall clock); latencies
are reported in milliseconds. A quantile is the nearest rank of the sorted
latencies; an application never acknowledged counts as an infinite latency, so
a quantile that falls on one is reported as None ("not reached").
"""

from __future__ import annotations

import json
import math
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ifuno_tools.bench.probes import LagSample


@dataclass
class RunResult:
    system: str
    count: int
    delivered: int
    seconds: float
    throughput: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    """Over the acknowledged applications (None if none was)."""
    lag: list[dict[str, object]]
    per_second: list[dict[str, object]]
    """Each second of the run: submissions sent and acknowledgements received in it,
    and applications sent but not yet acknowledged at its end (the backlog)."""
    cpu_ms_per_application: dict[str, float] = field(default_factory=dict)
    peak_rss_mib: dict[str, float] = field(default_factory=dict)
    emails_accepted: int = 0
    """Messages the sink accepted during the phase (acknowledgements and the others)."""


def quantile(ordered: list[float], q: float) -> float:
    """Nearest rank of an ascending list (inf where unacknowledged applications lie)."""
    if not ordered:
        return math.inf
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def _milliseconds(seconds: float) -> float | None:
    return None if math.isinf(seconds) else round(seconds * 1000, 1)


def latencies(sent_at: dict[str, float], arrivals: dict[str, float]) -> list[float]:
    """Seconds from each send to its acknowledgement, ascending; inf if none came."""
    return sorted(arrivals[r] - sent if r in arrivals else math.inf for r, sent in sent_at.items())


def summarise(
    system: str,
    sent_at: dict[str, float],
    arrivals: dict[str, float],
    lag: list[LagSample],
) -> RunResult:
    """A burst: throughput from the first send to the last acknowledgement, latency
    percentiles over the acknowledged applications."""
    delivered = [latency for latency in latencies(sent_at, arrivals) if not math.isinf(latency)]
    start = min(sent_at.values())
    end = max((arrivals[r] for r in sent_at if r in arrivals), default=start)
    seconds = end - start
    return RunResult(
        system=system,
        count=len(sent_at),
        delivered=len(delivered),
        seconds=round(seconds, 3),
        throughput=round(len(delivered) / seconds, 1) if seconds > 0 else 0.0,
        p50_ms=_milliseconds(quantile(delivered, 0.50)),
        p95_ms=_milliseconds(quantile(delivered, 0.95)),
        p99_ms=_milliseconds(quantile(delivered, 0.99)),
        lag=[{"t": round(sample.at, 2), **sample.lag} for sample in lag],
        per_second=per_second(start, sent_at, arrivals),
    )


def per_second(
    start: float, sent_at: dict[str, float], arrivals: dict[str, float]
) -> list[dict[str, object]]:
    sent = Counter(int(at - start) for at in sent_at.values())
    acknowledged = Counter(int(arrivals[r] - start) for r in sent_at if r in arrivals)
    seconds = max([*sent, *acknowledged], default=-1) + 1
    series: list[dict[str, object]] = []
    in_flight = 0
    for second in range(seconds):
        in_flight += sent[second] - acknowledged[second]
        series.append(
            {
                "t": second,
                "sent": sent[second],
                "acknowledged": acknowledged[second],
                "in_flight": in_flight,
            }
        )
    return series


@dataclass
class RateResult:
    """One rate of a steady load: latencies from each scheduled arrival."""

    rate: float
    duration: float
    count: int
    delivered: int
    drained: bool
    """Every application acknowledged before the drain timeout."""
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    late_p99_ms: float
    late_max_ms: float
    """How late the load generator sent, behind the schedule (it should stay near 0)."""
    cpu_ms_per_application: dict[str, float] = field(default_factory=dict)
    peak_rss_mib: dict[str, float] = field(default_factory=dict)
    emails_accepted: int = 0

    @property
    def holding_p99_ms(self) -> float | None:
        """The p99 that decides whether the rate is held: none if anything was lost."""
        return self.p99_ms if self.delivered == self.count else None


def summarise_rate(
    rate: float,
    duration: float,
    scheduled: dict[str, float],
    arrivals: dict[str, float],
    lateness: list[float],
    drained: bool,
) -> RateResult:
    ordered = latencies(scheduled, arrivals)
    late = sorted(lateness)
    return RateResult(
        rate=rate,
        duration=duration,
        count=len(scheduled),
        delivered=sum(1 for latency in ordered if not math.isinf(latency)),
        drained=drained,
        p50_ms=_milliseconds(quantile(ordered, 0.50)),
        p95_ms=_milliseconds(quantile(ordered, 0.95)),
        p99_ms=_milliseconds(quantile(ordered, 0.99)),
        late_p99_ms=round(quantile(late, 0.99) * 1000, 1) if late else 0.0,
        late_max_ms=round(late[-1] * 1000, 1) if late else 0.0,
    )


def held_rate(p99_by_rate: dict[float, float | None], limit_ms: float = 1000.0) -> float | None:
    """The highest rate held with p99 <= limit, every lower rate held too (a rate
    held above one that was not is luck, not capacity); None if the lowest fails."""
    held = None
    for rate in sorted(p99_by_rate):
        p99 = p99_by_rate[rate]
        if p99 is None or p99 > limit_ms:
            break
        held = rate
    return held


def _median(values: list[float | None]) -> float | None:
    """Median where None (not reached) is the largest value; of an even number of
    runs, the worse of the two middle ones."""
    median = statistics.median_high([math.inf if v is None else v for v in values])
    return None if math.isinf(median) else median


@dataclass
class RateSummary:
    """One rate over several runs: the median of each percentile."""

    rate: float
    runs: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    holding_p99_ms: float | None
    delivered: list[int]
    count: list[int]
    late_max_ms: float


def median_rates(runs: list[list[RateResult]]) -> list[RateSummary]:
    """Per rate, the median of each percentile over the runs that measured it."""
    by_rate: dict[float, list[RateResult]] = {}
    for run in runs:
        for result in run:
            by_rate.setdefault(result.rate, []).append(result)
    return [
        RateSummary(
            rate=rate,
            runs=len(results),
            p50_ms=_median([r.p50_ms for r in results]),
            p95_ms=_median([r.p95_ms for r in results]),
            p99_ms=_median([r.p99_ms for r in results]),
            holding_p99_ms=_median([r.holding_p99_ms for r in results]),
            delivered=[r.delivered for r in results],
            count=[r.count for r in results],
            late_max_ms=max(r.late_max_ms for r in results),
        )
        for rate, results in sorted(by_rate.items())
    ]


def held_rate_of(summaries: list[RateSummary], limit_ms: float = 1000.0) -> float | None:
    return held_rate({s.rate: s.holding_p99_ms for s in summaries}, limit_ms)


def median_run(runs: list[RunResult]) -> RunResult:
    """The run of median throughput (its latencies and lag curve stay consistent)."""
    ordered = sorted(runs, key=lambda run: run.throughput)
    return ordered[len(ordered) // 2]


def write_json(path: Path, payload: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")


def as_dict(run: RunResult | RateResult | RateSummary) -> dict[str, object]:
    return asdict(run)


def throughput_spread(runs: list[RunResult]) -> dict[str, float]:
    values = [run.throughput for run in runs]
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


@dataclass
class SteadyRun:
    """Every rate of one steady run on one stack, in order, and its whole timeline."""

    system: str
    rates: list[RateResult]
    per_second: list[dict[str, object]]
    lag: list[dict[str, object]]

    @property
    def held_rate(self) -> float | None:
        return held_rate({r.rate: r.holding_p99_ms for r in self.rates})


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def _series(points: list[dict[str, object]], key: str) -> list[object]:
    return [point.get(key, 0) for point in points]


def plot_throughput(path: Path, bursts: dict[str, RunResult], steady: dict[str, SteadyRun]) -> None:
    """Per system: acknowledgements per second and the backlog, in the burst (top)
    and through the steady rates (bottom), on their own time axes."""
    plt = _pyplot()
    systems = sorted({*bursts, *steady})
    figure, axes = plt.subplots(2, len(systems), figsize=(6 * len(systems), 7), squeeze=False)
    for column, name in enumerate(systems):
        top, bottom = axes[0][column], axes[1][column]
        if name in bursts:
            run = bursts[name]
            seconds = _series(run.per_second, "t")
            top.plot(seconds, _series(run.per_second, "acknowledged"), color="tab:blue")
            backlog = top.twinx()
            backlog.plot(seconds, _series(run.per_second, "in_flight"), color="tab:orange")
            backlog.set_ylabel("in flight (sent, not acknowledged)", color="tab:orange")
            top.set_title(f"{name}, burst: {run.throughput:.0f} applications/s")
        top.set_ylabel("acknowledged per second", color="tab:blue")
        if name in steady:
            series = steady[name].per_second
            seconds = _series(series, "t")
            bottom.plot(seconds, _series(series, "sent"), color="tab:gray", label="sent")
            bottom.plot(seconds, _series(series, "acknowledged"), color="tab:blue", label="acked")
            bottom.set_title(
                f"{name}, steady rates " + ", ".join(f"{r.rate:g}" for r in steady[name].rates)
            )
            bottom.legend(fontsize="small")
        bottom.set_xlabel("seconds")
        bottom.set_ylabel("applications per second")
    _save(figure, path)


def plot_lag(path: Path, bursts: dict[str, RunResult], steady: dict[str, SteadyRun]) -> None:
    """Per system: each consumer group's lag in the burst (top) and the steady run."""
    plt = _pyplot()
    systems = sorted({*bursts, *steady})
    figure, axes = plt.subplots(2, len(systems), figsize=(6 * len(systems), 7), squeeze=False)
    for column, name in enumerate(systems):
        for row, (label, lag) in enumerate(
            (
                ("burst", bursts[name].lag if name in bursts else []),
                ("steady", steady[name].lag if name in steady else []),
            )
        ):
            axis = axes[row][column]
            groups = sorted({key for point in lag for key in point if key != "t"})
            for group in groups:
                axis.plot(_series(lag, "t"), _series(lag, group), label=group)
            axis.set_title(f"{name}, {label}")
            axis.set_xlabel("seconds")
            axis.set_ylabel("consumer lag (records)")
            if groups:
                axis.legend(fontsize="small")
    _save(figure, path)


def plot_latency(
    path: Path, medians: dict[str, list[RateSummary]], limit_ms: float = 1000.0
) -> None:
    """p50, p95 and p99 per steady rate, per system (medians of the runs), against
    the one-second target; a percentile not reached is left out."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(8, 5))
    styles = {"p50": ":", "p95": "--", "p99": "-"}
    for number, (name, rates) in enumerate(sorted(medians.items())):
        for key, style in styles.items():
            points = [(r.rate, getattr(r, f"{key}_ms")) for r in rates]
            reached = [(rate, value) for rate, value in points if value is not None]
            axis.plot(
                [rate for rate, _ in reached],
                [value for _, value in reached],
                style,
                color=f"C{number}",
                marker="o",
                label=f"{name} {key}",
            )
    axis.axhline(limit_ms, color="tab:red", linewidth=0.8, label="1 s")
    axis.set_yscale("log")
    axis.set_xlabel("arrival rate (applications/s)")
    axis.set_ylabel("portal event to acknowledgement accepted (ms)")
    axis.legend(fontsize="small")
    _save(figure, path)
