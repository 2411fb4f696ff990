"""Produce to and read from a real broker in tests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from ifuno_shared.events import CONTENT_TYPE_HEADER, CloudEvent, encode_event


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


async def kafka_produce(
    bootstrap: str, topic: str, records: list[tuple[bytes | None, bytes | None]]
) -> None:
    """Produce (key, value) records in order, each acknowledged before the next."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(topic, value=value, key=key, headers=[CONTENT_TYPE_HEADER])
    finally:
        await producer.stop()


async def produce_events(bootstrap: str, events: list[CloudEvent]) -> None:
    """Produce CloudEvents to their topics, keyed like the outbox relay does."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                event.data.topic.value,
                value=encode_event(event),
                key=event.key.encode(),
                headers=[CONTENT_TYPE_HEADER],
            )
    finally:
        await producer.stop()


async def kafka_consume(
    bootstrap: str, topic: str, count: int, timeout: float = 30.0
) -> list[Record]:
    """Read at least `count` records of a topic from the beginning (no consumer group)."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    records: list[Record] = []
    try:
        async with asyncio.timeout(timeout):
            while len(records) < count:
                batches = await consumer.getmany(timeout_ms=200)
                for batch in batches.values():
                    records.extend(
                        Record(r.topic, r.partition, r.offset, r.key, r.value, dict(r.headers))
                        for r in batch
                    )
    except TimeoutError:
        raise AssertionError(
            f"{len(records)} records on {topic} after {timeout}s, {count} expected"
        ) from None
    finally:
        await consumer.stop()
    return records
