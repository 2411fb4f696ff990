"""The benchmark's arithmetic: latencies, throughput, per-second series, rates held, plots."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from ifuno_tools.bench.probes import LagSample, lag_between, progress_line
from ifuno_tools.bench.report import (
    RateResult,
    SteadyRun,
    held_rate,
    held_rate_of,
    latencies,
    median_rates,
    median_run,
    plot_lag,
    plot_latency,
    plot_throughput,
    quantile,
    summarise,
    summarise_rate,
)

pytestmark = pytest.mark.unit

PNG = b"\x89PNG\r\n\x1a\n"


def test_a_run_is_timed_from_the_first_send_to_the_last_acknowledgement() -> None:
    sent_at = {f"c{n}": 100.0 + n * 0.1 for n in range(10)}  # all sent within a second
    arrivals = {f"c{n}": 101.5 + n * 0.25 for n in range(9)}  # one never acknowledged
    result = summarise("platform", sent_at, arrivals, [LagSample(0.5, {"notification": 7})])
    assert (result.count, result.delivered) == (10, 9)
    assert result.seconds == pytest.approx(3.5)  # 100.0 -> 103.5
    assert result.throughput == pytest.approx(9 / 3.5, abs=0.05)
    assert result.p50_ms == pytest.approx(2100.0)  # latencies 1500, 1650, ... 2700
    assert result.p99_ms == pytest.approx(2700.0)
    assert result.lag == [{"t": 0.5, "notification": 7}]
    assert result.per_second == [
        {"t": 0, "sent": 10, "acknowledged": 0, "in_flight": 10},
        {"t": 1, "sent": 0, "acknowledged": 2, "in_flight": 8},
        {"t": 2, "sent": 0, "acknowledged": 4, "in_flight": 4},
        {"t": 3, "sent": 0, "acknowledged": 3, "in_flight": 1},
    ]


def test_a_burst_nobody_acknowledged_reports_no_percentile() -> None:
    result = summarise("platform", {"a": 1.0, "b": 1.1}, {}, [])
    assert (result.delivered, result.throughput) == (0, 0.0)
    assert (result.p50_ms, result.p95_ms, result.p99_ms) == (None, None, None)


def test_an_unacknowledged_application_is_an_infinite_latency_at_the_top() -> None:
    ordered = latencies({"a": 0.0, "b": 0.0, "c": 1.0}, {"a": 0.5, "c": 1.2})
    assert ordered[:2] == pytest.approx([0.2, 0.5])
    assert math.isinf(ordered[2])
    assert quantile(ordered, 0.5) == pytest.approx(0.5)
    assert math.isinf(quantile(ordered, 0.99))
    assert math.isinf(quantile([], 0.5))


def _rate(rate: float, acknowledged: int, total: int = 100, step: float = 0.01) -> RateResult:
    """`total` arrivals 1/rate apart, the first `acknowledged` of them after n * step s."""
    scheduled = {f"r{rate}-{n}": n / rate for n in range(total)}
    arrivals = {f"r{rate}-{n}": n / rate + n * step for n in range(acknowledged)}
    return summarise_rate(rate, total / rate, scheduled, arrivals, [0.0, 0.002], True)


def test_percentiles_per_rate_are_counted_from_the_scheduled_arrival() -> None:
    result = _rate(50, acknowledged=100)
    assert (result.count, result.delivered) == (100, 100)
    assert result.p50_ms == pytest.approx(500.0)  # latency n * 10 ms, nearest rank 50
    assert result.p95_ms == pytest.approx(950.0)
    assert result.p99_ms == pytest.approx(990.0)
    assert (result.late_p99_ms, result.late_max_ms) == (2.0, 2.0)
    assert result.holding_p99_ms == pytest.approx(990.0)


def test_a_rate_with_losses_is_not_held_even_when_its_p99_looks_fine() -> None:
    one_lost = _rate(50, acknowledged=999, total=1000, step=0.0001)
    assert one_lost.p99_ms == pytest.approx(99.0)  # rank 991 of 1000 still arrived
    assert one_lost.holding_p99_ms is None
    assert _rate(50, acknowledged=99).p99_ms is None  # rank 100 of 100 falls on the lost one


def test_the_held_rate_is_the_highest_whose_p99_and_every_lower_one_stay_under_a_second() -> None:
    assert held_rate({50: 120.0, 100: 300.0, 200: 999.0, 400: 4_000.0}) == 200
    assert held_rate({50: 120.0, 100: None, 200: 900.0}) == 50  # 200 held by luck only
    assert held_rate({50: 1_000.1}) is None
    assert held_rate({}) is None
    assert held_rate({100: 400.0, 50: 100.0}, limit_ms=200) == 50  # order of the keys


def test_rates_over_several_runs_take_the_median_of_each_percentile() -> None:
    runs = [
        [_rate(50, 100, step=0.001), _rate(100, 100, step=0.002)],
        [_rate(50, 100, step=0.003), _rate(100, 90)],  # lost some: p99 not reached
        [_rate(50, 100, step=0.002)],  # stopped before 100/s
    ]
    summary = median_rates(runs)
    assert [s.rate for s in summary] == [50, 100]
    assert [s.runs for s in summary] == [3, 2]
    assert summary[0].p99_ms == pytest.approx(198.0)  # 99, 297, 198 -> 198
    assert summary[1].p99_ms is None  # of two runs, the worse one
    assert summary[1].delivered == [100, 90]
    assert held_rate_of(summary) == 50


def test_lag_samples_are_kept_for_the_phase_and_timed_from_its_start() -> None:
    samples = [LagSample(at, {"g": n}) for n, at in enumerate((9.0, 10.0, 10.5, 12.0))]
    assert lag_between(samples, 10.0, 11.0) == [LagSample(0.0, {"g": 1}), LagSample(0.5, {"g": 2})]


def test_the_progress_line_says_what_was_sent_acknowledged_and_each_group_lag() -> None:
    line = progress_line("platform run 1 steady 100/s", 12.2, 1200, 1150, {"b": 3, "a": 40})
    assert line == (
        "[platform run 1 steady 100/s]    12 s  sent   1200  acknowledged   1150  "
        "in flight     50  lag a=40 b=3"
    )


def test_the_median_run_is_the_one_of_median_throughput(tmp_path: Path) -> None:
    runs = [
        summarise(name, {"a": 0.0, "b": 0.0}, {"a": 1.0, "b": seconds}, [])
        for name, seconds in (("slow", 4.0), ("fast", 1.0), ("middle", 2.0))
    ]
    assert median_run(runs).system == "middle"
    steady = SteadyRun("platform", [_rate(50, 100)], [{"t": 0, "sent": 5}], [{"t": 0.5, "g": 1}])
    assert steady.held_rate == 50
    bursts = {"baseline": runs[1], "platform": runs[2]}
    plot_throughput(tmp_path / "throughput.png", bursts, {"platform": steady})
    plot_lag(tmp_path / "lag.png", bursts, {"platform": steady})
    plot_latency(tmp_path / "latency.png", {"platform": median_rates([steady.rates])})
    for name in ("throughput", "lag", "latency"):
        assert (tmp_path / f"{name}.png").read_bytes()[:8] == PNG
