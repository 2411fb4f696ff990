"""The consumer's batch path on in-memory doubles: inbox claims, prefetch, handlers."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from aiokafka import ConsumerRecord
from ifuno_shared.events import CloudEvent, Topic, encode_event, new_event
from ifuno_shared.events.portal import Document, DocumentUploaded
from ifuno_shared.events.timeline import ClockAdvanced
from ifuno_shared.messaging.consumer import SubscriptionConsumer
from ifuno_shared.messaging.deadletter import DeadLetterWriter
from ifuno_shared.messaging.subscription import Subscription
from ifuno_tools.testing.fakes import FakeUnitOfWork

pytestmark = pytest.mark.unit


class PrefetchingUnitOfWork(FakeUnitOfWork):
    def __init__(self) -> None:
        super().__init__()
        self.prefetched: list[list[str]] = []

    async def prefetch(self, events: Sequence[CloudEvent]) -> None:
        self.prefetched.append([event.id for event in events])


def uploaded(application_id: str) -> CloudEvent:
    document = Document(
        kind="cv",
        document_id=f"D-{application_id}",
        filename="cv.pdf",
        content_type="application/pdf",
        size_bytes=10,
        sha256="1" * 64,
    )
    data = DocumentUploaded(application_id=application_id, document=document)
    return new_event(data, subject=application_id)


def record(offset: int, event: CloudEvent) -> ConsumerRecord[bytes, bytes]:
    """The event as its topic's partition 0 holds it at `offset`."""
    value, key = encode_event(event), event.key.encode()
    topic = event.data.topic.value
    return ConsumerRecord(topic, 0, offset, 0, 0, key, value, None, len(key), len(value), [])


async def test_a_batch_prefetches_and_applies_each_new_event_once_in_one_transaction() -> None:
    uow = PrefetchingUnitOfWork()
    applied: list[str] = []

    async def handler(event: CloudEvent, _: Any) -> None:
        applied.append(event.id)

    subscription = Subscription("probe", [Topic.PORTAL], {DocumentUploaded: handler})
    consumer = SubscriptionConsumer(subscription, lambda: uow, cast(DeadLetterWriter, None))
    seen_before, first, second = uploaded("A-0"), uploaded("A-1"), uploaded("A-2")
    uow.inbox.add(("probe", seen_before.id))
    batch = [seen_before, first, second, first]
    assert await consumer._process_batch([record(n, e) for n, e in enumerate(batch)])
    assert uow.prefetched == [[first.id, second.id]]
    assert applied == [first.id, second.id]
    assert uow.commits == 1


def clock_record(offset: int, now: datetime) -> ConsumerRecord[bytes, bytes]:
    return record(offset, new_event(ClockAdvanced(campaign=2027, now=now), subject="2027"))


async def test_a_delivery_is_applied_in_the_order_of_the_subscription_topics() -> None:
    """Each partition keeps its order; the topics go in the subscription's order."""
    uow = PrefetchingUnitOfWork()
    applied: list[str] = []

    async def handler(event: CloudEvent, _: Any) -> None:
        applied.append(event.type.split(".")[2])

    subscription = Subscription(
        "probe", [Topic.TIMELINE, Topic.PORTAL], {DocumentUploaded: handler, ClockAdvanced: handler}
    )
    consumer = SubscriptionConsumer(subscription, lambda: uow, cast(DeadLetterWriter, None))
    first, second = uploaded("A-1"), uploaded("A-2")
    moments = [datetime(2027, 5, day, tzinfo=UTC) for day in (1, 2)]
    delivery = (
        record(0, first),
        clock_record(0, moments[0]),
        record(1, second),
        clock_record(1, moments[1]),
    )
    handled = await consumer.consume(delivery)
    assert applied == ["clock_advanced", "clock_advanced", "document_uploaded", "document_uploaded"]
    assert [(h.topic, h.offset) for h in handled] == [
        (Topic.TIMELINE.value, 0),
        (Topic.TIMELINE.value, 1),
        (Topic.PORTAL.value, 0),
        (Topic.PORTAL.value, 1),
    ]
