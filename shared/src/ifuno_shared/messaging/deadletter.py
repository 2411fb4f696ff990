"""The dead-letter topic: the original value and key, with why and where it came from."""

from __future__ import annotations

import logging

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_never

from ifuno_shared.events import Topic
from ifuno_shared.messaging.faults import backoff, call_retrying, describe
from ifuno_shared.metrics import DEAD_LETTERS

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 2000


def _warn(state: RetryCallState) -> None:
    failure = state.outcome.exception() if state.outcome else None
    log.warning(
        "dead-letter publish failed (try %d), retrying: %s",
        state.attempt_number,
        describe(failure) if failure else "?",
    )


class DeadLetterWriter:
    def __init__(self, broker: KafkaBroker, *, initial_backoff: float = 0.2) -> None:
        self._broker = broker
        self._initial_backoff = initial_backoff

    async def write(
        self, record: ConsumerRecord[bytes, bytes], *, reason: str, consumer: str
    ) -> None:
        """Publish and wait for the broker's acknowledgement, retrying with backoff
        however long the broker is away: the offset of the record is committed after
        this returns, so the record is never lost. `reason` must name no value (the
        consumer builds it from `faults.describe` and `InvalidEvent.reason`)."""
        headers = {
            "x-error": reason[:MAX_ERROR_LENGTH],
            "x-original-topic": record.topic,
            "x-original-partition": str(record.partition),
            "x-original-offset": str(record.offset),
            "x-consumer": consumer,
        }
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(Exception),
            wait=backoff(self._initial_backoff, 5.0),
            stop=stop_never,
            before_sleep=_warn,
            reraise=True,
        )

        async def publish() -> None:
            await self._broker.publish(
                record.value, Topic.DEADLETTER.value, key=record.key, headers=headers
            )

        await call_retrying(retrying, publish)
        DEAD_LETTERS.labels(consumer).inc()
