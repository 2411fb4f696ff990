"""The dead-letter topic: the original value and key, with why and where it came from."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError

from ifuno_shared.events import Topic
from ifuno_shared.metrics import DEAD_LETTERS

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 2000


class DeadLetterWriter:
    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def write(
        self, record: ConsumerRecord[bytes, bytes], *, reason: str, consumer: str
    ) -> None:
        """Publish and wait for the broker's acknowledgement (retrying): the offset of the
        record is committed after this returns, so the record is never lost."""
        headers = [
            ("x-error", reason[:MAX_ERROR_LENGTH].encode()),
            ("x-original-topic", record.topic.encode()),
            ("x-original-partition", str(record.partition).encode()),
            ("x-original-offset", str(record.offset).encode()),
            ("x-consumer", consumer.encode()),
        ]
        backoff = 0.2
        while True:
            try:
                await self._producer.send_and_wait(
                    Topic.DEADLETTER.value, value=record.value, key=record.key, headers=headers
                )
                DEAD_LETTERS.labels(consumer).inc()
                return
            except KafkaError as exc:
                log.warning("dead-letter publish failed, retrying: %s", type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
