"""FastStream at the Kafka edge, wrapped once so that no service can pick an unsafe option.

FastStream 0.7's Kafka defaults do not fit an effectively-once platform: ACK_FIRST
auto-commits before the handler runs, a batch mixes partitions, `ack()` commits every
consumed position, and new groups start at the latest offset. `subscribe_batches` is
the only way the platform subscribes: batches, `earliest`, NACK_ON_ERROR (an unhandled
error rewinds every partition of the batch), and a handler that takes the raw records,
undecoded, so nothing a producer sends can fail before the kit has looked at it.

Consumer lag is read here too (`LagReader`): FastStream has no lag API, so this is
the one place where the kit holds aiokafka clients of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import collect_hosts
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, Topic
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.kafka.subscriber.usecase import BatchSubscriber
from faststream.message import StreamMessage
from prometheus_client import REGISTRY
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_never

from ifuno_shared.events.topics import CONSUMER_GROUPS
from ifuno_shared.messaging.faults import backoff, call_retrying

log = logging.getLogger(__name__)

Records = tuple[ConsumerRecord[bytes, bytes], ...]
BatchHandler = Callable[[Records], Awaitable[object]]


def make_broker(bootstrap: str, *, client_id: str, metrics: bool = True) -> KafkaBroker:
    """acks=all for durability. Idempotence stays off: the local broker (Tansu) lacks it,
    and duplicates are harmless because every consumer deduplicates by event id.
    A relay round publishes up to a few hundred records: batches of up to 512 KB (the
    default, 16 KB, holds about ten events) and 10 ms to fill them send it in a few
    requests, where 2 ms and 16 KB made it many (the broker's CPU per application in a
    burst went from 0.26 to 0.21 ms); 10 ms is little beside the relay's own pacing.
    Per-message logs are at DEBUG: FastStream's own INFO line per batch is noise here."""
    return KafkaBroker(
        bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=False,
        linger_ms=10,
        max_batch_size=512 * 1024,
        request_timeout_ms=10_000,
        retry_backoff_ms=200,
        middlewares=[KafkaPrometheusMiddleware(registry=REGISTRY)] if metrics else [],
        logger=log,
        log_level=logging.DEBUG,
    )


BROKER_KNOCK_TIMEOUT = 2.0
"""Seconds to wait for a TCP connection to one bootstrap address."""


async def broker_answers(bootstrap: str) -> None:
    """A TCP connection to one of the bootstrap addresses (as aiokafka reads them),
    closed at once; ConnectionRefusedError when none answers. FastStream's start leaves
    its producer unclosed when the broker is away, and aiokafka then logs "Unclosed
    AIOKafkaProducer" at ERROR for every try: the kit knocks before starting."""
    for host, port, _ in collect_hosts(bootstrap, randomize=False):
        try:
            async with asyncio.timeout(BROKER_KNOCK_TIMEOUT):
                _, writer = await asyncio.open_connection(host, port)
        except (OSError, TimeoutError):
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return
    raise ConnectionRefusedError("no bootstrap address of the broker answers")


async def start_with_retry(
    broker: KafkaBroker,
    name: str,
    *,
    bootstrap: str | None = None,
    initial_backoff: float = 0.2,
    max_backoff: float = 5.0,
) -> None:
    """FastStream does not retry an unreachable broker at start: the kit does, with
    exponential backoff up to `max_backoff`, until it answers (knocking first at
    `bootstrap`, when given, so that a broker away leaks no client)."""

    async def start() -> None:
        if bootstrap is not None:
            await broker_answers(bootstrap)
        try:
            await broker.start()
        except BaseException:
            await broker.stop()
            raise

    def warn(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: broker not reachable yet (%s), retrying",
            name,
            type(failure).__name__ if failure else "?",
        )

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(Exception),
        wait=backoff(initial_backoff, max_backoff),
        stop=stop_never,
        before_sleep=warn,
        reraise=True,
    )
    await call_retrying(retrying, start)


async def _without_headers(records: Records, original: Any) -> StreamMessage[Any]:
    """FastStream's parser decodes every header as UTF-8; a producer's odd header must
    not fail a batch, and an event consumer reads no header (the event is the value)."""
    return await original(tuple(dataclasses.replace(r, headers=[]) for r in records))


async def _with_text_headers(records: Records, original: Any) -> StreamMessage[Any]:
    """For readers of headers (dead letters): undecodable bytes are replaced, not fatal."""
    return await original(
        tuple(
            dataclasses.replace(
                r,
                headers=[
                    (name, value.decode(errors="replace").encode()) for name, value in r.headers
                ],
            )
            for r in records
        )
    )


async def _undecoded(message: StreamMessage[Any]) -> Records:
    """The handler gets the raw records: decoding each one is the kit's job."""
    return message.raw_message


def subscribe_batches(
    broker: KafkaBroker,
    topics: Sequence[str],
    *,
    group_id: str,
    handler: BatchHandler,
    max_records: int = 500,
    session_timeout_ms: int = 10_000,
    fetch_max_wait_ms: int = 500,
    keep_headers: bool = False,
) -> BatchSubscriber:
    """Declare a batch subscriber with the platform's safe options; `handler` must
    return only once every record was applied, skipped or dead-lettered: FastStream
    then commits every consumed position. Topics are never created here (they are
    provisioned, with their partitions, by the deployment)."""
    subscriber = broker.subscriber(
        *(Topic(topic, declare=False) for topic in topics),
        batch=True,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        max_records=max_records,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(session_timeout_ms // 6, 100),
        fetch_max_wait_ms=fetch_max_wait_ms,
        parser=_with_text_headers if keep_headers else _without_headers,
        decoder=_undecoded,
        include_in_schema=False,
    )

    async def consume(records: Any) -> None:
        await handler(records)

    subscriber(consume)
    return subscriber


def assigned(subscriber: BatchSubscriber) -> bool:
    """Whether the subscriber's consumer has joined its group and holds partitions."""
    consumer = subscriber.consumer
    return consumer is not None and bool(consumer.assignment())


SUBSCRIPTIONS: dict[str, set[str]] = {
    group: {topic.value for topic in topics} for group, topics in CONSUMER_GROUPS.items()
}
"""The topics each consumer group reads, as the services subscribe (`CONSUMER_GROUPS`)."""


FRESH_HIGHWATER_WAIT_MS = 5
"""How long a lag reading waits for the watcher's fetch. A broker answers a waiting fetch
as soon as a record lands (about 2 ms on the local broker), so this covers only a response
already on its way; a later one shows in the next reading. Each reading used to wait 30 ms,
most of a reading's time when nothing moves."""


class LagReader:
    """High watermarks come from a watcher's fetch responses (`highwater()`): the local
    broker's ListOffsets answers are wrong, and its admin OffsetFetch answer does not
    decode; a consumer per group, assigned but never joining, reads committed offsets."""

    def __init__(
        self, bootstrap: str, subscriptions: Mapping[str, Collection[str]] = SUBSCRIPTIONS
    ) -> None:
        """`subscriptions`: the groups to watch, each with the topics it reads."""
        self._bootstrap = bootstrap
        self._subscriptions = subscriptions
        groups = tuple(subscriptions)
        self._watcher = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest")
        self._admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        self._readers = {
            group: AIOKafkaConsumer(
                bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
            )
            for group in groups
        }
        self._partitions: list[TopicPartition] = []

    async def start(self) -> None:
        await self._watcher.start()
        await self._admin.start()
        for reader in self._readers.values():
            await reader.start()
        await self._refresh()

    async def _refresh(self) -> None:
        topics = sorted({topic for topics in self._subscriptions.values() for topic in topics})
        described = await self._admin.describe_topics(topics)
        partitions = sorted(
            TopicPartition(topic["topic"], partition["partition"])
            for topic in described
            for partition in topic["partitions"]
        )
        if partitions != self._partitions:
            self._partitions = partitions
            self._watcher.assign(partitions)
            for group, reader in self._readers.items():
                reader.assign([p for p in partitions if p.topic in self._subscriptions[group]])

    async def stop(self) -> None:
        await self._watcher.stop()
        await self._admin.close()
        for reader in self._readers.values():
            await reader.stop()

    async def lag(self) -> dict[str, int]:
        await self._watcher.getmany(timeout_ms=FRESH_HIGHWATER_WAIT_MS, max_records=1)
        highwater = {p: self._watcher.highwater(p) or 0 for p in self._partitions}
        for partition, end in highwater.items():
            if end:
                self._watcher.seek(partition, end)  # keep no buffer: the next fetch is fresh
        lag = {}
        for group, reader in self._readers.items():
            behind = 0
            for partition in reader.assignment():
                committed = await reader.committed(partition) or 0
                behind += max(highwater.get(partition, 0) - committed, 0)
            lag[group] = behind
        return lag
