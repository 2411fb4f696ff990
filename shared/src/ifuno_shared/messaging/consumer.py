"""Consume a subscription effectively once: inbox + state in one transaction, then commit.

FastStream delivers the records (`edge.subscribe_batches`: batches, `earliest`,
offsets committed by FastStream only after this consumer returns). For each
partition of a batch: read each record (`decode_record`: a valid event, of the
topic it came from, with its type's source, keyed by its subject; anything else is
dead-lettered), apply the partition's events in one unit of work that first claims
their ids in the inbox (a redelivery is skipped), and commit. If that fails, the
partition is replayed record by record: a handler that keeps raising is retried
`max_attempts` times with backoff and then dead-lettered, so one bad record never
blocks its partition. An outage (`faults.is_outage`: the database or the broker
away) is not the record's fault: it is waited out with backoff, however long, and
nothing is dead-lettered for it. Whatever a record holds, `consume` returns: every
record ends applied, duplicate, ignored or dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeAlias

from aiokafka import ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker
from faststream.kafka.subscriber.usecase import BatchSubscriber
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from ifuno_shared.events import CloudEvent, InvalidEvent, decode_record
from ifuno_shared.events.topics import TOMBSTONE_TOPICS
from ifuno_shared.messaging.deadletter import DeadLetterWriter
from ifuno_shared.messaging.edge import Records, assigned, subscribe_batches
from ifuno_shared.messaging.faults import (
    backoff,
    call_retrying,
    describe,
    is_outage,
    through_outages,
    traceback_without_values,
)
from ifuno_shared.messaging.subscription import Handler, Subscription, UnitOfWorkFactory
from ifuno_shared.metrics import (
    CONSUMER_LAG,
    EVENTS_CONSUMED,
    HANDLER_RETRIES,
    HANDLER_SECONDS,
)

log = logging.getLogger(__name__)

Record: TypeAlias = ConsumerRecord[bytes, bytes]


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class Handled:
    """What became of one record (`consume` returns one per record, for tests and logs)."""

    topic: str
    partition: int
    offset: int
    outcome: Outcome


def is_tombstone(record: Record) -> bool:
    """A key with no value on a topic where that means an erasure: skipped, not an error."""
    return record.value is None and record.key is not None and record.topic in TOMBSTONE_TOPICS


def _is_record_failure(exc: BaseException) -> bool:
    return isinstance(exc, Exception) and not is_outage(exc)


class SubscriptionConsumer:
    def __init__(
        self,
        subscription: Subscription,
        uow_factory: UnitOfWorkFactory,
        dead_letters: DeadLetterWriter,
        *,
        max_attempts: int = 3,
        retry_backoff: float = 0.1,
        max_backoff: float = 5.0,
        session_timeout_ms: int = 10_000,
        max_records: int = 500,
        fetch_max_wait_ms: int = 500,
        linger: float = 0.0,
    ) -> None:
        """`linger`: seconds at least between the starts of two deliveries (see
        `_consume_paced`)."""
        self.subscription = subscription
        self._uow_factory = uow_factory
        self._dead_letters = dead_letters
        self._max_attempts = max_attempts
        self._retry_backoff = retry_backoff
        self._max_backoff = max_backoff
        self._session_timeout_ms = session_timeout_ms
        self._max_records = max_records
        self._fetch_max_wait_ms = fetch_max_wait_ms
        self._linger = linger
        self._topic_ranks = {topic.value: rank for rank, topic in enumerate(subscription.topics)}
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
            handler=self._consume_paced,
            max_records=self._max_records,
            session_timeout_ms=self._session_timeout_ms,
            fetch_max_wait_ms=self._fetch_max_wait_ms,
        )

    async def _consume_paced(self, records: Records) -> None:
        """`consume`, then a pause until `linger` has passed since the delivery began.

        Under a steady load the broker hands over a few records at a time, and each
        delivery pays a transaction, its offsets' commit and a relay round, which cost
        more than the records' own work (at 100 applications/s, candidature took three
        records a delivery). Records keep arriving during the pause, and the next
        delivery takes them all. A full delivery (`max_records`) means more are
        waiting: no pause; nor after a delivery that lasted `linger` or longer. A
        record costs at most `linger` of waiting per hop."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        await self.consume(records)
        pause = started + self._linger - loop.time()
        if pause > 0 and len(records) < self._max_records:
            await asyncio.sleep(pause)

    @property
    def consuming(self) -> bool:
        return self._subscriber is not None and assigned(self._subscriber)

    async def consume(self, records: Records) -> list[Handled]:
        """One delivery of FastStream: every partition's records, in order. Returns only
        once each record is applied, a duplicate, ignored or dead-lettered; an outage
        holds it (the offsets are committed after it returns, so nothing is lost).

        The whole delivery is tried in one transaction (each partition's records in
        their order: a key's events stay in order); should that fail, each partition's
        batch is tried alone, and a failing one is replayed record by record. At a
        steady load a delivery holds a record or two of many partitions: a transaction
        per partition cost more than the records' own work."""
        by_partition: dict[TopicPartition, list[Record]] = defaultdict(list)
        for record in sorted(records, key=self._topic_rank):
            by_partition[TopicPartition(record.topic, record.partition)].append(record)
        in_order = [record for batch in by_partition.values() for record in batch]
        outcomes = await self._process_batch_safely(in_order) if len(by_partition) > 1 else None
        if outcomes is None:
            outcomes = []
            for partition_records in by_partition.values():
                outcomes += await self._process_batch_safely(partition_records) or [
                    await self._process_safely(record) for record in partition_records
                ]
        self._record_lag()
        return [
            Handled(record.topic, record.partition, record.offset, outcome)
            for record, outcome in zip(in_order, outcomes, strict=True)
        ]

    def _topic_rank(self, record: Record) -> int:
        """A delivery's topics are applied in the subscription's order (a stable sort:
        each partition's records keep theirs; records of two topics have no order between
        them anyway). Notification reads the contact details first: the events of an
        application whose details come in the same delivery are then told at once
        instead of being parked and read back."""
        return self._topic_ranks.get(record.topic, len(self._topic_ranks))

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

    def _read(self, record: Record) -> CloudEvent:
        self._positions[TopicPartition(record.topic, record.partition)] = record.offset + 1
        return decode_record(record.value, topic=record.topic, key=record.key)

    async def _process_batch(self, records: list[Record]) -> list[Outcome] | None:
        """The fast path: a partition's batch in one transaction (one commit instead of
        one per record). An outage is waited out; on any other failure nothing of it is
        kept and the caller replays the batch record by record, with retries and dead
        letters: same guarantees. None when it was not applied."""
        if len(records) < 2:
            return None
        invalid: dict[int, str] = {}
        handled: dict[int, tuple[CloudEvent, Handler]] = {}
        outcomes: dict[int, Outcome] = {}
        event_types: dict[int, str] = {}
        for index, record in enumerate(records):
            if is_tombstone(record):
                self._positions[TopicPartition(record.topic, record.partition)] = record.offset + 1
                event_types[index] = "tombstone"
                outcomes[index] = Outcome.IGNORED
                continue
            try:
                event = self._read(record)
            except InvalidEvent as exc:
                invalid[index] = exc.reason
                continue
            event_types[index] = event.type
            handler = self.subscription.handler_for(event)
            if handler is None:
                outcomes[index] = Outcome.IGNORED
            else:
                handled[index] = (event, handler)

        async def apply() -> dict[int, Outcome]:
            applied: dict[int, Outcome] = {}
            async with self._uow_factory() as uow:
                events = [event for event, _ in handled.values()]
                claimed = await uow.claim_inbox_many(self.name, [e.id for e in events])
                fresh = {event.id: event for event in events if event.id in claimed}
                await uow.prefetch(list(fresh.values()))
                for index, (event, handler) in handled.items():
                    if event.id in claimed:
                        claimed.discard(event.id)
                        await handler(event, uow)
                        applied[index] = Outcome.APPLIED
                    else:
                        applied[index] = Outcome.DUPLICATE
                await uow.commit()
            return applied

        started = time.perf_counter()
        try:
            outcomes |= await through_outages(
                apply,
                what=f"consumer {self.name}",
                log=log,
                initial=self._retry_backoff,
                cap=self._max_backoff,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info(
                "consumer %s: batch of %d replayed one by one (%s)",
                self.name,
                len(records),
                describe(exc),
            )
            return None
        HANDLER_SECONDS.labels(self.name).observe(time.perf_counter() - started)
        for index, outcome in outcomes.items():
            EVENTS_CONSUMED.labels(self.name, event_types[index], outcome.value).inc()
        for index, reason in invalid.items():
            await self._dead_letter(records[index], reason, "invalid")
            outcomes[index] = Outcome.DEAD_LETTERED
        return [outcomes[index] for index in range(len(records))]

    async def _process_batch_safely(self, records: list[Record]) -> list[Outcome] | None:
        """`_process_batch`; should the kit itself fail there, the records are replayed
        one by one (where a record that still fails it is dead-lettered)."""
        try:
            return await self._process_batch(records)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error(
                "consumer %s: unexpected failure on a batch, replayed one by one: %s\n%s",
                self.name,
                describe(exc),
                traceback_without_values(exc),
            )
            return None

    async def _process_safely(self, record: Record) -> Outcome:
        """`_process`, and should the kit itself fail on a record, the record is
        dead-lettered rather than the consumer stopped."""
        try:
            return await self._process(record)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error(
                "consumer %s: unexpected failure on %s[%d]@%d: %s\n%s",
                self.name,
                record.topic,
                record.partition,
                record.offset,
                describe(exc),
                traceback_without_values(exc),
            )
            await self._dead_letter(record, f"unexpected failure: {describe(exc)}", "unknown")
            return Outcome.DEAD_LETTERED

    async def _process(self, record: Record) -> Outcome:
        if is_tombstone(record):
            self._positions[TopicPartition(record.topic, record.partition)] = record.offset + 1
            return Outcome.IGNORED
        try:
            event = self._read(record)
        except InvalidEvent as exc:
            await self._dead_letter(record, exc.reason, "invalid")
            return Outcome.DEAD_LETTERED
        handler = self.subscription.handler_for(event)
        if handler is None:
            EVENTS_CONSUMED.labels(self.name, event.type, Outcome.IGNORED.value).inc()
            return Outcome.IGNORED
        started = time.perf_counter()
        try:
            applied = await self._apply_with_retries(event, handler)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.error(
                "consumer %s: event %s (%s) failed %d times, dead-lettered: %s\n%s",
                self.name,
                event.id,
                event.type,
                self._max_attempts,
                describe(exc),
                traceback_without_values(exc),
            )
            reason = f"handler failed {self._max_attempts} times: {describe(exc)}"
            await self._dead_letter(record, reason, event.type)
            return Outcome.DEAD_LETTERED
        HANDLER_SECONDS.labels(self.name).observe(time.perf_counter() - started)
        outcome = Outcome.APPLIED if applied else Outcome.DUPLICATE
        EVENTS_CONSUMED.labels(self.name, event.type, outcome.value).inc()
        return outcome

    async def _apply_with_retries(self, event: CloudEvent, handler: Handler) -> bool:
        """Up to `max_attempts` tries for the record's own failures; an outage within a
        try is waited out and costs no try."""

        def note_retry(state: RetryCallState) -> None:
            HANDLER_RETRIES.labels(self.name).inc()
            failure = state.outcome.exception() if state.outcome else None
            log.warning(
                "consumer %s: handler failed on event %s (attempt %d): %s",
                self.name,
                event.id,
                state.attempt_number,
                describe(failure) if failure else "?",
            )

        async def apply() -> bool:
            return await through_outages(
                lambda: self._apply(event, handler),
                what=f"consumer {self.name}",
                log=log,
                initial=self._retry_backoff,
                cap=self._max_backoff,
            )

        retrying = AsyncRetrying(
            retry=retry_if_exception(_is_record_failure),
            stop=stop_after_attempt(self._max_attempts),
            wait=backoff(self._retry_backoff, self._max_backoff),
            before_sleep=note_retry,
            reraise=True,
        )
        return await call_retrying(retrying, apply)

    async def _apply(self, event: CloudEvent, handler: Handler) -> bool:
        async with self._uow_factory() as uow:
            if not await uow.claim_inbox(self.name, event.id):
                return False
            await handler(event, uow)
            await uow.commit()
            return True

    async def _dead_letter(self, record: Record, reason: str, event_type: str) -> None:
        log.warning(
            "consumer %s: dead-lettering %s[%d]@%d (%s): %s",
            self.name,
            record.topic,
            record.partition,
            record.offset,
            event_type,
            reason,
        )
        await self._dead_letters.write(record, reason=reason, consumer=self.name)
        EVENTS_CONSUMED.labels(self.name, event_type, Outcome.DEAD_LETTERED.value).inc()
