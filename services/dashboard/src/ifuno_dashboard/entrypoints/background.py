"""Beside the events: dead letters into the read model, consumer lag per service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from aiokafka.errors import KafkaError
from ifuno_shared.events.topics import CONSUMER_GROUPS
from ifuno_shared.messaging.edge import SUBSCRIPTIONS, LagReader, Records, subscribe_batches
from ifuno_shared.runtime import ServiceContext

from ifuno_dashboard.adapters.repository import DashboardRepository

log = logging.getLogger(__name__)

DEAD_LETTER_GROUP = "dashboard-deadletters"


def subscribe_dead_letters(context: ServiceContext, **options: int) -> None:
    """Dead letters are not CloudEvents: a plain batch subscriber of the kit counts them
    by consumer and error, in one transaction per batch, committed before the offsets.
    `options`: `subscribe_batches`' consumer options (the service's session timeout)."""

    async def record(records: Records) -> None:
        """Retried until the database answers (a redelivered batch would spin as fast
        as the broker serves it)."""
        backoff = 0.5
        while True:
            try:
                await write(records)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("dead letters not recorded yet (%s), retrying", type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def write(records: Records) -> None:
        async with context.session_factory() as session, session.begin():
            repository = DashboardRepository(session)
            for dead in records:
                if dead.value is None:
                    continue  # a tombstone: an erasure of that key's dead letters
                headers = {k: v.decode(errors="replace") for k, v in dead.headers}
                await repository.add_dead_letter(
                    topic=headers.get("x-original-topic", "?"),
                    partition=_number(headers.get("x-original-partition")),
                    offset=_number(headers.get("x-original-offset")),
                    consumer=headers.get("x-consumer", "?"),
                    error=headers.get("x-error", "?")[:500],
                    seen_at=datetime.now(UTC),
                    key=None if dead.key is None else dead.key.decode(errors="replace")[:200],
                    dead_letter_partition=dead.partition,
                    dead_letter_offset=dead.offset,
                )

    subscribe_batches(
        context.broker,
        [topic.value for topic in CONSUMER_GROUPS[DEAD_LETTER_GROUP]],
        group_id=DEAD_LETTER_GROUP,
        handler=record,
        keep_headers=True,
        **options,
    )


def _number(header: str | None) -> int:
    return int(header) if header is not None and header.lstrip("-").isdigit() else -1


async def measure_lag(context: ServiceContext) -> None:
    """Keeps `context.extras["lag"]`: records each service's consumers have yet to read."""
    context.extras["lag"] = {}
    while True:
        reader = LagReader(context.settings.kafka_bootstrap, SUBSCRIPTIONS)
        try:
            await reader.start()
            while True:
                context.extras["lag"] = await reader.lag()
                await asyncio.sleep(getattr(context.settings, "lag_interval", 5.0))
        except KafkaError as exc:
            log.warning("lag measure will retry: %s", type(exc).__name__)
            await asyncio.sleep(5)
        finally:
            with contextlib.suppress(Exception):
                await reader.stop()
