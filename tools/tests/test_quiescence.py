"""Settling: two quiet readings in a row, a pause between readings, none after the last."""

from __future__ import annotations

import pytest
from ifuno_tools.demo import observe
from ifuno_tools.demo.observe import Quiescence

pytestmark = pytest.mark.unit


class ScriptedLag(Quiescence):
    """Lag readings from a script, with no broker (the reader's clients are never made)."""

    def __init__(self, readings: list[int]) -> None:
        self.readings = readings
        self.read = 0

    async def lag(self) -> dict[str, int]:
        value = self.readings[self.read]
        self.read += 1
        return {"candidature": value, "notification": 0}


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    taken: list[float] = []

    async def sleep(seconds: float) -> None:
        taken.append(seconds)

    monkeypatch.setattr(observe.asyncio, "sleep", sleep)
    return taken


async def test_a_quiet_platform_settles_on_its_second_reading_with_no_pause_after(
    pauses: list[float],
) -> None:
    scripted = ScriptedLag([0, 0, 0])
    await scripted.settle()
    assert scripted.read == 2
    assert pauses == [observe.QUIET_GAP]


async def test_lag_between_quiet_readings_starts_the_count_again(pauses: list[float]) -> None:
    scripted = ScriptedLag([3, 0, 5, 0, 1, 0, 0, 7])
    await scripted.settle()
    assert scripted.read == 7
    assert len(pauses) == 6


async def test_a_platform_that_never_catches_up_times_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(observe, "QUIET_GAP", 0.01)
    scripted = ScriptedLag([1] * 1_000)
    with pytest.raises(TimeoutError):
        await scripted.settle(timeout=0.05)
    assert 2 <= scripted.read < 1_000
