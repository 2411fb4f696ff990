"""Produce to and read from a real broker in tests (no consumer group: nothing to join,
nothing committed, so reading never disturbs the services under test)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from ifuno_shared.events import CONTENT_TYPE_HEADER, CloudEvent, encode_event

Bytes = bytes | str | None
Headers = Mapping[str, bytes | str]


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]


def _bytes(value: Bytes) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def _headers(headers: Headers | None) -> list[tuple[str, bytes]]:
    extra = [
        (name, value.encode() if isinstance(value, str) else value)
        for name, value in (headers or {}).items()
    ]
    names = {name for name, _ in extra}
    return ([CONTENT_TYPE_HEADER] if CONTENT_TYPE_HEADER[0] not in names else []) + extra


async def kafka_produce(
    bootstrap: str,
    topic: str,
    records: Sequence[tuple[Bytes, Bytes]],
    *,
    headers: Headers | None = None,
) -> None:
    """Produce (key, value) records in order, each acknowledged before the next.

    Every record carries the CloudEvents content-type header (unless `headers`
    names another) and `headers`; str keys and values are sent as UTF-8.
    """
    encoded_headers = _headers(headers)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for key, value in records:
            await producer.send_and_wait(
                topic, value=_bytes(value), key=_bytes(key), headers=encoded_headers
            )
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


def _record(r: Any) -> Record:
    return Record(r.topic, r.partition, r.offset, r.key, r.value, dict(r.headers))


async def kafka_consume(
    bootstrap: str, topic: str, count: int, timeout: float = 30.0
) -> list[Record]:
    """Read at least `count` records of a topic from the beginning; all those read are
    returned (in order within a partition). Fails the test after `timeout` seconds.

    The topic need not exist yet; note that asking for a missing topic makes
    Tansu create it (with 4 partitions).
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=1000,
    )
    await consumer.start()
    records: list[Record] = []
    try:
        async with asyncio.timeout(timeout):
            while len(records) < count:
                batches = await consumer.getmany(timeout_ms=200)
                for batch in batches.values():
                    records.extend(_record(r) for r in batch)
    except TimeoutError:
        raise AssertionError(
            f"{len(records)} records on {topic} after {timeout}s, {count} expected"
        ) from None
    finally:
        await consumer.stop()
    return records


async def kafka_read_all(bootstrap: str, topic: str, timeout: float = 30.0) -> list[Record]:
    """Every record the topic holds now (up to each partition's end), for checking
    what was published, or that nothing more was."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[Record] = []
    try:
        async with asyncio.timeout(timeout):
            await consumer.topics()  # refreshes the metadata
            partitions = [
                TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())
            ]
            if not partitions:
                return []
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            remaining = {tp for tp in partitions if ends[tp] > 0}
            while remaining:
                batches = await consumer.getmany(*remaining, timeout_ms=200)
                for batch in batches.values():
                    records.extend(_record(r) for r in batch)
                for partition in list(remaining):
                    if await consumer.position(partition) >= ends[partition]:
                        remaining.discard(partition)
    except TimeoutError:
        raise AssertionError(f"{topic} not read to its end within {timeout}s") from None
    finally:
        await consumer.stop()
    return records


async def kafka_read_until(
    bootstrap: str,
    topic: str,
    done: Callable[[list[Record]], bool],
    keep: Callable[[Record], bool],
    timeout: float = 30.0,
) -> list[Record]:
    """Read `topic` from the beginning, keeping matching records, until `done` says so."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    kept: list[Record] = []
    try:
        async with asyncio.timeout(timeout):
            while not done(kept):
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    kept += [record for r in batch if keep(record := _record(r))]
    except TimeoutError:
        raise AssertionError(f"only {len(kept)} matching records on {topic}") from None
    finally:
        await consumer.stop()
    return kept
