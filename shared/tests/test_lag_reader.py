"""Reading consumer lag on a real broker: what a group has not committed, per group."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from ifuno_shared.messaging.edge import LagReader
from ifuno_tools.testing.kafka import kafka_produce

pytestmark = pytest.mark.integration


async def lag_becomes(reader: LagReader, expected: dict[str, int]) -> None:
    """Readings until one says `expected` (a record landing shows within a reading or two)."""
    async with asyncio.timeout(15):
        while await reader.lag() != expected:
            await asyncio.sleep(0.05)


async def test_lag_counts_what_each_group_has_not_committed(kafka: Any) -> None:
    topic, behind, caught_up = (f"lag-{name}-{uuid.uuid4().hex[:8]}" for name in "tbc")
    await kafka.create_topics([topic], partitions=2)
    reader = LagReader(kafka.bootstrap, {behind: [topic], caught_up: [topic]})
    await reader.start()
    committer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap,
        group_id=caught_up,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await committer.start()
    try:
        assert await reader.lag() == {behind: 0, caught_up: 0}
        await kafka_produce(kafka.bootstrap, topic, [(f"k{i}", f"v{i}") for i in range(5)])
        await lag_becomes(reader, {behind: 5, caught_up: 5})

        committer.assign([TopicPartition(topic, p) for p in range(2)])
        read = 0
        async with asyncio.timeout(15):
            while read < 5:
                batches = await committer.getmany(timeout_ms=200)
                read += sum(len(records) for records in batches.values())
        await committer.commit()
        await lag_becomes(reader, {behind: 5, caught_up: 0})
    finally:
        await committer.stop()
        await reader.stop()
