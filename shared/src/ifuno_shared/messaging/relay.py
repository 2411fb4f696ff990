"""The outbox relay: publishes committed events in order, retrying through outages.

Only one relay of a service publishes at a time (a session-level advisory lock,
held on a connection of its own that sits idle, outside any transaction, between
batches), rows go out in `id` order with the application id as the Kafka key, so
one application's events keep their order on their partition. No transaction is
open while the broker is talked to: the batch is read, published, then marked
published in a second short transaction, only after the broker acknowledged the
whole batch; on any failure the batch is retried later (consumers deduplicate by
event id). If the lock's connection is lost, the lock goes with it and is taken
again before the next batch. A row with no value is a tombstone: published as the
key with a null value (an erasure).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Callable

from faststream.kafka import KafkaBroker
from sqlalchemy import BigInteger, any_, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_never

from ifuno_shared.events import CONTENT_TYPE_HEADER
from ifuno_shared.messaging.faults import backoff, call_retrying, describe
from ifuno_shared.metrics import OUTBOX_FAILURES, OUTBOX_PUBLISHED
from ifuno_shared.persistence.repository import execute_on_custom_plan
from ifuno_shared.persistence.tables import outbox_table

log = logging.getLogger(__name__)

PublisherFactory = Callable[[], KafkaBroker]
"""A FastStream broker used only to publish: the relay's own, so that after a failed
batch it can be dropped with whatever it still had queued (see `_drop_publisher`)."""

_HEADERS = {CONTENT_TYPE_HEADER[0]: CONTENT_TYPE_HEADER[1].decode()}


class OutboxRelay:
    def __init__(
        self,
        service: str,
        engine: AsyncEngine,
        publisher_factory: PublisherFactory,
        *,
        batch_size: int = 500,
        poll_interval: float = 0.5,
        max_backoff: float = 5.0,
        linger: float = 0.0,
    ) -> None:
        """`linger`: seconds between the starts of two rounds at least. A service commits
        many small transactions under a steady load (the consumer's, notification's
        settles), each waking the relay: a round each, with its reads, its update and a
        produce request, cost more than the rows. Lingering, the commits made meanwhile
        go out together; an event after a quiet spell goes out at once, and a full
        batch (a backlog) is followed by the next one without a pause."""
        self.service = service
        self._engine = engine
        self._publisher_factory = publisher_factory
        self._publisher: KafkaBroker | None = None
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._max_backoff = max_backoff
        self._linger = linger
        self._wake = asyncio.Event()
        self._stopping = False
        self._lock_key = zlib.crc32(f"ifuno-outbox-relay:{service}".encode())
        self._lock_connection: AsyncConnection | None = None

    def wake(self) -> None:
        """Called after a commit that wrote outbox rows: publish without waiting for the poll."""
        self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            started = loop.time()
            published = await self._publish_through_failures()
            if published == 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._poll_interval)
            pause = started + self._linger - loop.time()
            if pause > 0 and published < self._batch_size and not self._stopping:
                await asyncio.sleep(pause)

    async def _publish_through_failures(self) -> int:
        """One batch, retried with backoff (up to `max_backoff`) while the broker or the
        database is away; rows wait in the outbox meanwhile, nothing is lost."""

        async def failed(state: RetryCallState) -> None:
            OUTBOX_FAILURES.labels(self.service).inc()
            failure = state.outcome.exception() if state.outcome else None
            log.warning(
                "outbox relay of %s will retry: %s",
                self.service,
                describe(failure) if failure else "?",
            )
            await self._drop_publisher()

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(Exception),
            wait=backoff(0.2, self._max_backoff),
            stop=stop_never,
            before_sleep=failed,
            reraise=True,
        )
        return await call_retrying(retrying, self.publish_pending)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        await self._drop_publisher()
        await self._release_lock()

    async def _hold_lock(self) -> bool:
        """Whether this relay holds its service's publishing lock (taken if free). The
        lock's connection is checked before each batch: a lost connection lost the lock."""
        if self._lock_connection is not None:
            try:
                await self._lock_connection.scalar(select(1))
                return True
            except Exception:
                await self._release_lock()
                raise
        connection = await self._engine.connect()
        try:
            connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
            locked = await connection.scalar(select(func.pg_try_advisory_lock(self._lock_key)))
        except BaseException:
            await connection.close()
            raise
        if not locked:
            await connection.close()
            return False
        self._lock_connection = connection
        return True

    async def _release_lock(self) -> None:
        connection, self._lock_connection = self._lock_connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.scalar(select(func.pg_advisory_unlock(self._lock_key)))
            with contextlib.suppress(Exception):
                await connection.close()

    async def drain(self, timeout: float) -> None:
        """At shutdown: publish what is left, if the broker answers in time (else the rows
        wait in the outbox for the next start; nothing is lost either way)."""
        try:
            async with asyncio.timeout(timeout):
                while await self.publish_pending() > 0:
                    pass
        except Exception as exc:
            log.warning("outbox of %s not drained at shutdown: %s", self.service, describe(exc))
        finally:
            await self._drop_publisher()
            await self._release_lock()

    async def publish_pending(self) -> int:
        """Publish one batch; return how many rows went out (0: nothing to do)."""
        table = outbox_table
        if not await self._hold_lock():
            return 0
        async with self._engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(table.c.id, table.c.topic, table.c.key, table.c.value)
                    .where(table.c.published_at.is_(None))
                    .order_by(table.c.id)
                    .limit(self._batch_size)
                )
            ).all()
        if not rows:
            return 0
        publisher = await self._ensure_publisher()
        deliveries = [
            await publisher.publish(
                None if row.value is None else row.value.encode(),
                row.topic,
                key=row.key.encode(),
                headers={} if row.value is None else _HEADERS,
                no_confirm=True,
            )
            for row in rows
        ]
        await asyncio.gather(*deliveries)
        published = bindparam(None, [row.id for row in rows], type_=ARRAY(BigInteger))
        async with self._engine.begin() as connection:
            await execute_on_custom_plan(
                connection,
                update(table).where(table.c.id == any_(published)).values(published_at=func.now()),
            )
        OUTBOX_PUBLISHED.labels(self.service).inc(len(rows))
        return len(rows)

    async def _ensure_publisher(self) -> KafkaBroker:
        if self._publisher is None:
            publisher = self._publisher_factory()
            try:
                await publisher.start()
            except BaseException:
                await publisher.stop()
                raise
            self._publisher = publisher
        return self._publisher

    async def _drop_publisher(self) -> None:
        """A failed batch may leave later records queued: start afresh to keep the order."""
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            try:
                await publisher.stop()
            except Exception:
                log.debug("publisher stop failed", exc_info=True)
