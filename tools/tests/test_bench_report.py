"""The benchmark's arithmetic: latencies, throughput, the per-second series, the plot."""

from __future__ import annotations

from pathlib import Path

import pytest
from ifuno_tools.bench.probes import LagSample
from ifuno_tools.bench.report import median_run, plot, summarise

pytestmark = pytest.mark.unit


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
        {"t": 0, "acknowledged": 0, "in_flight": 10},
        {"t": 1, "acknowledged": 2, "in_flight": 8},
        {"t": 2, "acknowledged": 4, "in_flight": 4},
        {"t": 3, "acknowledged": 3, "in_flight": 1},
    ]


def test_the_median_run_is_the_one_of_median_throughput(tmp_path: Path) -> None:
    runs = [
        summarise(name, {"a": 0.0, "b": 0.0}, {"a": 1.0, "b": seconds}, [])
        for name, seconds in (("slow", 4.0), ("fast", 1.0), ("middle", 2.0))
    ]
    assert median_run(runs).system == "middle"
    plot(tmp_path / "lag.png", {"baseline": runs[1], "platform": runs[2]})
    assert (tmp_path / "lag.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
