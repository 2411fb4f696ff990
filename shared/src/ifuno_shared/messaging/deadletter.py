"""The dead-letter topic: the original value and key, with why and where it came from."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker

from ifuno_shared.events import Topic
from ifuno_shared.metrics import DEAD_LETTERS

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 2000


class DeadLetterWriter:
    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def write(
        self, record: ConsumerRecord[bytes, bytes], *, reason: str, consumer: str
    ) -> None:
        """Publish and wait for the broker's acknowledgement (retrying): the offset of the
        record is committed after this returns, so the record is never lost."""
        headers = {
            "x-error": reason[:MAX_ERROR_LENGTH],
            "x-original-topic": record.topic,
            "x-original-partition": str(record.partition),
            "x-original-offset": str(record.offset),
            "x-consumer": consumer,
        }
        backoff = 0.2
        while True:
            try:
                await self._broker.publish(
                    record.value, Topic.DEADLETTER.value, key=record.key, headers=headers
                )
                DEAD_LETTERS.labels(consumer).inc()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("dead-letter publish failed, retrying: %s", type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
