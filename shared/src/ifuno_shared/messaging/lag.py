"""Consumer lag per group: records published but not yet consumed and committed.

FastStream has no lag API, so this reader is the one place outside the FastStream
edge where the kit holds aiokafka clients of its own: a watcher for high watermarks
and, per group, a consumer that reads committed offsets without ever joining."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from ifuno_shared.events.topics import CONSUMER_GROUPS

SUBSCRIPTIONS: dict[str, set[str]] = {
    group: {topic.value for topic in topics} for group, topics in CONSUMER_GROUPS.items()
}
"""The topics each consumer group reads, as the services subscribe (`CONSUMER_GROUPS`)."""


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
        await self._watcher.getmany(timeout_ms=30, max_records=1)
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
