"""The broker's start at a service's start: retried while the broker is away, leaking
nothing, and started as soon as it answers."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
from typing import Any

import pytest
from ifuno_shared.messaging.edge import broker_answers, make_broker, start_with_retry

pytestmark = pytest.mark.integration


def closed_port() -> int:
    """A local port nothing listens on: a connection to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_broker_away_is_retried_without_leaking_a_client(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Before, each try left FastStream's producer unclosed, and aiokafka logged
    "Unclosed AIOKafkaProducer" at ERROR for each one while the broker was away."""
    caplog.set_level(logging.WARNING)
    bootstrap = f"127.0.0.1:{closed_port()}"
    broker = make_broker(bootstrap, client_id="test", metrics=False)
    starting = asyncio.create_task(
        start_with_retry(
            broker, "test", bootstrap=bootstrap, initial_backoff=0.01, max_backoff=0.02
        )
    )
    async with asyncio.timeout(30):
        while caplog.text.count("broker not reachable yet") < 3:
            await asyncio.sleep(0.01)
    starting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await starting
    gc.collect()
    await asyncio.sleep(0.05)
    assert "Unclosed" not in caplog.text
    assert "ConnectionRefusedError" in caplog.text


async def test_a_broker_that_answers_is_knocked_at_then_started(kafka: Any) -> None:
    await broker_answers(f"127.0.0.1:{closed_port()},{kafka.bootstrap}")
    broker = make_broker(kafka.bootstrap, client_id="test", metrics=False)
    await start_with_retry(broker, "test", bootstrap=kafka.bootstrap)
    await broker.stop()
    with pytest.raises(ConnectionRefusedError):
        await broker_answers(f"127.0.0.1:{closed_port()}")
