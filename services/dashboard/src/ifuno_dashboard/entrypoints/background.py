"""Two background tasks: dead letters into the read model, consumer lag per service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError
from ifuno_shared.events import Topic
from ifuno_shared.messaging.lag import SUBSCRIPTIONS, LagReader
from ifuno_shared.runtime import ServiceContext

from ifuno_dashboard.adapters.repository import DashboardRepository

log = logging.getLogger(__name__)


async def consume_dead_letters(context: ServiceContext) -> None:
    """Dead letters are not CloudEvents: count them by consumer and error, commit after."""
    consumer = AIOKafkaConsumer(
        Topic.DEADLETTER.value,
        bootstrap_servers=context.settings.kafka_bootstrap,
        group_id="dashboard-deadletters",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=10_000,
    )
    await consumer.start()
    try:
        while True:
            batches = await consumer.getmany(timeout_ms=500)
            if not batches:
                continue
            async with context.session_factory() as session, session.begin():
                repository = DashboardRepository(session)
                for batch in batches.values():
                    for record in batch:
                        headers = {k: v.decode(errors="replace") for k, v in record.headers}
                        await repository.add_dead_letter(
                            topic=headers.get("x-original-topic", "?"),
                            partition=int(headers.get("x-original-partition", "-1")),
                            offset=int(headers.get("x-original-offset", "-1")),
                            consumer=headers.get("x-consumer", "?"),
                            error=headers.get("x-error", "?")[:500],
                            seen_at=datetime.now(UTC),
                        )
            await consumer.commit()
    finally:
        await consumer.stop()


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
