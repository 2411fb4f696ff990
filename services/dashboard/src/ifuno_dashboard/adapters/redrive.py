"""Re-driving a dead letter: its original value and key, read back from the dead-letter
topic where the kit put them, published again to the topic they came from. The consumer
that failed reads it anew (its inbox never claimed it); the others skip it as a
duplicate (theirs did). Nothing of the record is kept or logged."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition
from faststream.kafka import KafkaBroker
from ifuno_shared.events import Topic

REDRIVABLE = frozenset(topic.value for topic in Topic if topic is not Topic.DEADLETTER)


class CannotRedrive(Exception):
    """The dead letter is not where it was recorded (retention), or names no known topic."""


async def read_dead_letter(
    bootstrap: str, partition: int, offset: int, timeout: float = 10.0
) -> tuple[bytes | None, bytes | None]:
    """The (key, value) of the dead letter at this position of ifuno.deadletter.v1."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        place = TopicPartition(Topic.DEADLETTER.value, partition)
        consumer.assign([place])
        consumer.seek(place, offset)
        async with asyncio.timeout(timeout):
            while True:
                batch = await consumer.getmany(place, timeout_ms=500, max_records=1)
                for record in batch.get(place, []):
                    if record.offset != offset:
                        raise CannotRedrive("the dead letter is no longer on its topic")
                    return record.key, record.value
    except TimeoutError as exc:
        raise CannotRedrive("the dead letter could not be read back") from exc
    finally:
        await consumer.stop()


async def redrive(
    broker: KafkaBroker, bootstrap: str, topic: str, partition: int, offset: int
) -> None:
    if topic not in REDRIVABLE:
        raise CannotRedrive("the dead letter names no topic it could go back to")
    key, value = await read_dead_letter(bootstrap, partition, offset)
    await broker.publish(value, topic, key=key)
