"""The open loop: arrivals at fixed instants, sent on time whatever the system does."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from ifuno_tools.bench import load
from ifuno_tools.bench.__main__ import parse_args
from ifuno_tools.bench.load import Sent, candidate_email, open_loop, schedule

pytestmark = pytest.mark.unit


def test_the_schedule_spaces_arrivals_evenly_at_the_rate() -> None:
    instants = schedule(400, 60, start=1000.0)
    assert len(instants) == 24_000
    assert instants[:3] == pytest.approx([1000.0, 1000.0025, 1000.005])
    assert instants[-1] == pytest.approx(1000.0 + 59.9975)
    assert schedule(2.5, 3, start=0.0) == pytest.approx([0.0, 0.4, 0.8, 1.2, 1.6, 2.0, 2.4, 2.8])
    with pytest.raises(ValueError):
        schedule(0, 60, start=0.0)


class _SlowProducer:
    """A producer whose deliveries take long: the loop must not wait for them."""

    sent: list[tuple[float, bytes]]

    def __init__(self, **_: Any) -> None:
        self.sent = []
        _SlowProducer.last = self

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(self, topic: str, value: bytes, key: bytes) -> asyncio.Future[None]:
        self.sent.append((time.time(), value))
        delivery: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.2, delivery.set_result, None)
        return delivery

    last: _SlowProducer


async def test_the_open_loop_sends_at_the_scheduled_instants(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(load, "AIOKafkaProducer", _SlowProducer)
    records = {index: f"record {index}".encode() for index in range(7, 17)}
    instants = schedule(100, 0.1, start=time.time() + 0.05)
    sent = Sent()
    scheduled, lateness = await open_loop("bootstrap", "topic", records, instants, sent)
    producer = _SlowProducer.last
    assert sent.count == 10
    assert [value for _, value in producer.sent] == list(records.values())
    assert scheduled == dict(zip(map(candidate_email, records), instants, strict=True))
    for (at, _), planned in zip(producer.sent, instants, strict=True):
        assert at >= planned  # never early
    assert max(lateness) < 0.05  # nor waiting for the 0.2 s deliveries
    with pytest.raises(ValueError):
        await open_loop("bootstrap", "topic", records, instants[:3])


def test_the_command_line_takes_rates_modes_and_runs() -> None:
    args = parse_args(["--mode", "steady", "--rates", "200, 50,100", "--duration", "10"])
    assert (args.mode, args.rates, args.duration, args.runs) == ("steady", [50, 100, 200], 10, 3)
    assert args.systems == ["baseline", "platform"]
    assert parse_args(["--systems", "platform"]).systems == ["platform"]
    assert args.instances == {}
    two = parse_args(["--instances", "notification=2, candidature=3"]).instances
    assert two == {"notification": 2, "candidature": 3}
    for wrong in (
        ["--rates", "50,x"],
        ["--rates", "0"],
        ["--runs", "0"],
        ["--systems", "kafka"],
        ["--instances", "notification=0"],
        ["--instances", "mailer=2"],
        ["--instances", "notification"],
    ):
        with pytest.raises(SystemExit):
            parse_args(wrong)
