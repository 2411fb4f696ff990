"""The kit's FastStream wrapper on FastStream's in-memory broker: fast handler tests.

Delivery guarantees (commits, rebalances, restarts) are proven on a real broker in
test_messaging_kit.py; this only shows the wrapper's wiring: raw records in, typed
events to their handler, an invalid record to the dead letters, nothing raised.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka import ConsumerRecord
from faststream.kafka import TestKafkaBroker
from ifuno_shared.events import CloudEvent, Topic, encode_event, new_event
from ifuno_shared.events.candidature import ApplicationCompleted
from ifuno_shared.messaging import (
    Subscription,
    SubscriptionConsumer,
    handlers_by_annotation,
    make_broker,
)
from ifuno_shared.messaging.deadletter import DeadLetterWriter
from ifuno_tools.testing.fakes import FakeUnitOfWork

pytestmark = pytest.mark.unit


class RecordingDeadLetters(DeadLetterWriter):
    def __init__(self) -> None:
        self.written: list[tuple[bytes, str]] = []

    async def write(
        self, record: ConsumerRecord[bytes, bytes], *, reason: str, consumer: str
    ) -> None:
        self.written.append((record.value, reason))


async def test_the_wrapper_hands_typed_events_to_their_handler_and_dead_letters_the_rest() -> None:
    uow = FakeUnitOfWork()
    completed: list[str] = []

    async def on_completed(event: CloudEvent[ApplicationCompleted], _: Any) -> None:
        completed.append(event.data.application_id)

    dead_letters = RecordingDeadLetters()
    consumer = SubscriptionConsumer(
        Subscription("probe", [Topic.CANDIDATURE], handlers_by_annotation(on_completed)),
        lambda: uow,
        dead_letters,
    )
    broker = make_broker("unused:9092", client_id="test", metrics=False)
    consumer.attach(broker)
    event = new_event(ApplicationCompleted(application_id="A-1"), subject="A-1")
    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(encode_event(event), Topic.CANDIDATURE.value, key=b"A-1")
        await test_broker.publish(b"[" * 5000, Topic.CANDIDATURE.value, key=b"A-2")
        await test_broker.publish(encode_event(event), Topic.CANDIDATURE.value, key=b"A-1")
    assert completed == ["A-1"], "the redelivered event was skipped by the inbox"
    assert [value for value, _ in dead_letters.written] == [b"[" * 5000]
