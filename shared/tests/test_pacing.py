"""Consumers and relays pace themselves under a steady load (`linger`), never in a burst."""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

import pytest
from ifuno_shared.events import Topic
from ifuno_shared.messaging import OutboxRelay
from ifuno_shared.messaging.consumer import SubscriptionConsumer
from ifuno_shared.messaging.deadletter import DeadLetterWriter
from ifuno_shared.messaging.subscription import Subscription
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.unit


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pauses asked for, recorded instead of slept."""
    asked: list[float] = []

    async def record(seconds: float) -> None:
        asked.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", record)
    return asked


def consumer(linger: float, delivery_lasts: float, max_records: int = 500) -> SubscriptionConsumer:
    paced = SubscriptionConsumer(
        Subscription("probe", [Topic.PORTAL]),
        lambda: cast(Any, None),
        cast(DeadLetterWriter, None),
        linger=linger,
        max_records=max_records,
    )

    async def consume(records: Any) -> list[Any]:
        time.sleep(delivery_lasts)  # noqa: ASYNC251 (the delivery's work holds the loop)
        return []

    paced.consume = consume  # type: ignore[method-assign]
    return paced


async def test_a_short_delivery_is_followed_by_a_pause_up_to_the_linger(
    pauses: list[float],
) -> None:
    await consumer(linger=10.0, delivery_lasts=0.0)._consume_paced(())
    assert len(pauses) == 1
    assert 9.5 < pauses[0] <= 10.0


async def test_a_delivery_longer_than_the_linger_is_not_followed_by_a_pause(
    pauses: list[float],
) -> None:
    await consumer(linger=0.02, delivery_lasts=0.05)._consume_paced(())
    await consumer(linger=0.0, delivery_lasts=0.0)._consume_paced(())
    assert pauses == []


async def test_a_full_delivery_is_not_followed_by_a_pause(pauses: list[float]) -> None:
    """A full delivery means records are waiting (a backlog): the next one at once."""
    full = cast(Any, (object(),) * 3)
    await consumer(linger=10.0, delivery_lasts=0.0, max_records=3)._consume_paced(full)
    assert pauses == []


async def test_a_relay_that_published_waits_for_the_linger_before_its_next_round(
    pauses: list[float],
) -> None:
    relay = OutboxRelay(
        "probe", cast(AsyncEngine, None), cast(Any, None), poll_interval=0.01, linger=10.0
    )
    rounds = iter([3, 0])

    async def publish_pending() -> int:
        published = next(rounds)
        if published == 0:
            await relay.stop()  # nothing left, and the service stopping: no pause
        return published

    relay.publish_pending = publish_pending  # type: ignore[method-assign]
    await relay.run()
    assert len(pauses) == 1
    assert 9.5 < pauses[0] <= 10.0


async def test_a_relay_that_published_a_full_batch_goes_on_without_a_pause(
    pauses: list[float],
) -> None:
    relay = OutboxRelay(
        "probe",
        cast(AsyncEngine, None),
        cast(Any, None),
        batch_size=3,
        poll_interval=0.01,
        linger=10.0,
    )
    rounds = iter([3, 3, 0])

    async def publish_pending() -> int:
        published = next(rounds)
        if published == 0:
            await relay.stop()
        return published

    relay.publish_pending = publish_pending  # type: ignore[method-assign]
    await relay.run()
    assert pauses == []
