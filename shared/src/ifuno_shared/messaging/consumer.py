"""Consume a subscription effectively once: inbox + state in one transaction, then commit.

For each record: decode it (an invalid record is dead-lettered at once), run
its handler inside a unit of work that first claims the event id in the inbox
(a redelivery is skipped), commit the transaction, and only then commit the
Kafka offset. A handler that keeps raising is retried `max_attempts` times with
backoff and then dead-lettered, so one bad record never blocks its partition.
An unreachable database is not the record's fault: it is retried until the
database answers, and nothing is dead-lettered for it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from ifuno_shared.events import CloudEvent, InvalidEvent, decode_event
from ifuno_shared.messaging.deadletter import DeadLetterWriter
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
        bootstrap: str,
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
        self._bootstrap = bootstrap
        self._uow_factory = uow_factory
        self._dead_letters = dead_letters
        self._max_attempts = max_attempts
        self._retry_backoff = retry_backoff
        self._session_timeout_ms = session_timeout_ms
        self._max_records = max_records
        self._consumer: AIOKafkaConsumer | None = None
        self._positions: dict[TopicPartition, int] = {}
        self._stopping = False
        self.ready = asyncio.Event()

    @property
    def name(self) -> str:
        return self.subscription.name

    async def run(self) -> None:
        self._consumer = AIOKafkaConsumer(
            *[topic.value for topic in self.subscription.topics],
            bootstrap_servers=self._bootstrap,
            group_id=self.name,
            client_id=f"ifuno-{self.name}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(self._session_timeout_ms // 6, 100),
            max_poll_records=self._max_records,
        )
        await self._start_consumer()
        try:
            while not self._stopping:
                batches = await self._consumer.getmany(timeout_ms=500)
                if self._consumer.assignment():
                    self.ready.set()
                for partition, records in batches.items():
                    if not await self._process_batch(records):
                        for record in records:
                            await self._process(record)
                    await self._commit(partition, records[-1].offset + 1)
                self._record_lag()
        finally:
            await self._consumer.stop()

    async def stop(self) -> None:
        self._stopping = True

    async def _start_consumer(self) -> None:
        assert self._consumer is not None
        backoff = 0.2
        while True:
            try:
                await self._consumer.start()
                return
            except KafkaError as exc:
                log.warning("consumer %s cannot reach the broker yet: %s", self.name, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _commit(self, partition: TopicPartition, offset: int) -> None:
        assert self._consumer is not None
        while True:
            try:
                await self._consumer.commit({partition: offset})
                return
            except KafkaError as exc:
                # A lost commit only means a redelivery, which the inbox absorbs.
                log.warning("consumer %s offset commit failed: %s", self.name, exc)
                if not self._consumer.assignment() or partition not in self._consumer.assignment():
                    return
                await asyncio.sleep(0.5)

    def _record_lag(self) -> None:
        assert self._consumer is not None
        for partition in self._consumer.assignment():
            highwater = self._consumer.highwater(partition)
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
