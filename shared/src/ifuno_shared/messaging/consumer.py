"""Consume a subscription effectively once: inbox + state in one transaction, then commit.

FastStream delivers the records (`edge.subscribe_batches`: batches, `earliest`,
offsets committed by FastStream only after this consumer returns). For each
partition of a batch: decode each record (an invalid one is dead-lettered), apply
the partition's events in one unit of work that first claims their ids in the inbox
(a redelivery is skipped), and commit. If that fails, the partition is replayed
record by record: a handler that keeps raising is retried `max_attempts` times with
backoff and then dead-lettered, so one bad record never blocks its partition. An
unreachable database is not the record's fault: it is retried until the database
answers, and nothing is dead-lettered for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict

from aiokafka import ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker
from faststream.kafka.subscriber.usecase import BatchSubscriber
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from ifuno_shared.events import CloudEvent, InvalidEvent, decode_event
from ifuno_shared.messaging.deadletter import DeadLetterWriter
from ifuno_shared.messaging.edge import Records, assigned, subscribe_batches
from ifuno_shared.messaging.subscription import Handler, Subscription, UnitOfWorkFactory
from ifuno_shared.metrics import (
    CONSUMER_LAG,
    EVENTS_CONSUMED,
    HANDLER_RETRIES,
    HANDLER_SECONDS,
)

log = logging.getLogger(__name__)


def _is_infrastructure_error(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | InterfaceError | ConnectionError | OSError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class SubscriptionConsumer:
    def __init__(
        self,
        subscription: Subscription,
        uow_factory: UnitOfWorkFactory,
        dead_letters: DeadLetterWriter,
        *,
        max_attempts: int = 3,
        retry_backoff: float = 0.1,
        session_timeout_ms: int = 10_000,
        max_records: int = 500,
    ) -> None:
        self.subscription = subscription
        self._uow_factory = uow_factory
        self._dead_letters = dead_letters
        self._max_attempts = max_attempts
        self._retry_backoff = retry_backoff
        self._session_timeout_ms = session_timeout_ms
        self._max_records = max_records
        self._positions: dict[TopicPartition, int] = {}
        self._subscriber: BatchSubscriber | None = None

    @property
    def name(self) -> str:
        return self.subscription.name

    def attach(self, broker: KafkaBroker) -> None:
        """Declare this consumer's subscriber on the service's broker (before it starts)."""
        self._subscriber = subscribe_batches(
            broker,
            [topic.value for topic in self.subscription.topics],
            group_id=self.name,
            handler=self.consume,
            max_records=self._max_records,
            session_timeout_ms=self._session_timeout_ms,
        )

    @property
    def consuming(self) -> bool:
        return self._subscriber is not None and assigned(self._subscriber)

    async def consume(self, records: Records) -> None:
        """One delivery of FastStream: every partition's records, in order."""
        by_partition: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = defaultdict(list)
        for record in records:
            by_partition[TopicPartition(record.topic, record.partition)].append(record)
        for partition_records in by_partition.values():
            if not await self._process_batch(partition_records):
                for record in partition_records:
                    await self._process(record)
        self._record_lag()

    def _record_lag(self) -> None:
        consumer = self._subscriber.consumer if self._subscriber else None
        if consumer is None:
            return
        for partition in consumer.assignment():
            highwater = consumer.highwater(partition)
            next_offset = self._positions.get(partition)
            if highwater is not None and next_offset is not None:
                CONSUMER_LAG.labels(self.name, partition.topic, str(partition.partition)).set(
                    max(highwater - next_offset, 0)
                )

    async def _process_batch(self, records: list[ConsumerRecord[bytes, bytes]]) -> bool:
        """The fast path: a partition's batch in one transaction (one commit instead of
        one per record). On any failure nothing of it is kept and the caller replays the
        batch record by record, with retries and dead letters: same guarantees."""
        if len(records) < 2:
            return False
        invalid: list[tuple[ConsumerRecord[bytes, bytes], str]] = []
        outcomes: list[tuple[str, str]] = []
        started = time.perf_counter()
        handled: list[tuple[CloudEvent, Handler]] = []
        for record in records:
            self._positions[TopicPartition(record.topic, record.partition)] = record.offset + 1
            try:
                event = decode_event(record.value)
            except InvalidEvent as exc:
                invalid.append((record, exc.reason))
                continue
            handler = self.subscription.handler_for(event)
            if handler is None:
                outcomes.append((event.type, "ignored"))
            else:
                handled.append((event, handler))
        try:
            async with self._uow_factory() as uow:
                claimed = await uow.claim_inbox_many(self.name, [e.id for e, _ in handled])
                fresh = {event.id: event for event, _ in handled if event.id in claimed}
                await uow.prefetch(list(fresh.values()))
                for event, handler in handled:
                    if event.id in claimed:
                        claimed.discard(event.id)
                        await handler(event, uow)
                        outcomes.append((event.type, "applied"))
                    else:
                        outcomes.append((event.type, "duplicate"))
                await uow.commit()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info(
                "consumer %s: batch of %d replayed one by one (%s)",
                self.name,
                len(records),
                type(exc).__name__,
            )
            return False
        HANDLER_SECONDS.labels(self.name).observe(time.perf_counter() - started)
        for event_type, outcome in outcomes:
            EVENTS_CONSUMED.labels(self.name, event_type, outcome).inc()
        for record, reason in invalid:
            await self._dead_letter(record, reason, "invalid")
        return True

    async def _process(self, record: ConsumerRecord[bytes, bytes]) -> None:
        self._positions[TopicPartition(record.topic, record.partition)] = record.offset + 1
        try:
            event = decode_event(record.value)
        except InvalidEvent as exc:
            await self._dead_letter(record, exc.reason, "invalid")
            return
        handler = self.subscription.handler_for(event)
        if handler is None:
            EVENTS_CONSUMED.labels(self.name, event.type, "ignored").inc()
            return
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                applied = await self._apply(event, handler)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if _is_infrastructure_error(exc):
                    log.warning("consumer %s: database unavailable, retrying", self.name)
                    await asyncio.sleep(min(self._retry_backoff * 2**attempt, 5.0))
                    attempt = 0
                    continue
                if attempt >= self._max_attempts:
                    reason = f"{type(exc).__name__}: {exc}"
                    await self._dead_letter(record, reason, event.type)
                    return
                HANDLER_RETRIES.labels(self.name).inc()
                log.warning(
                    "consumer %s: handler failed on event %s (attempt %d): %s",
                    self.name,
                    event.id,
                    attempt,
                    type(exc).__name__,
                )
                await asyncio.sleep(self._retry_backoff * 2 ** (attempt - 1))
                continue
            HANDLER_SECONDS.labels(self.name).observe(time.perf_counter() - started)
            outcome = "applied" if applied else "duplicate"
            EVENTS_CONSUMED.labels(self.name, event.type, outcome).inc()
            return

    async def _apply(self, event: CloudEvent, handler: Handler) -> bool:
        async with self._uow_factory() as uow:
            if not await uow.claim_inbox(self.name, event.id):
                return False
            await handler(event, uow)
            await uow.commit()
            return True

    async def _dead_letter(
        self, record: ConsumerRecord[bytes, bytes], reason: str, event_type: str
    ) -> None:
        log.warning(
            "consumer %s: dead-lettering %s[%d]@%d (%s)",
            self.name,
            record.topic,
            record.partition,
            record.offset,
            event_type,
        )
        await self._dead_letters.write(record, reason=reason, consumer=self.name)
        EVENTS_CONSUMED.labels(self.name, event_type, "dead_lettered").inc()
