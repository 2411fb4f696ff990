"""What the benchmark measures with: an SMTP server that timestamps every arrival,
and a sampler of consumer lag per group."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email.utils import getaddresses

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class TimestampingHandler:
    """Keeps, per recipient, the instant (perf_counter) the first message was accepted."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        now = time.perf_counter()
        self.count += 1
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        headers = message_from_bytes(content, _class=None) if content else None
        recipients = list(envelope.rcpt_tos)
        if headers is not None and headers.get("To"):
            recipients = [address for _, address in getaddresses([headers["To"]])]
        for recipient in recipients:
            self.arrivals.setdefault(recipient.lower(), now)
        return "250 OK"


@dataclass
class TimestampingSmtpServer:
    port: int
    handler: TimestampingHandler = field(default_factory=TimestampingHandler)
    _controller: Controller | None = None

    def start(self) -> None:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()


@dataclass
class LagSample:
    at: float
    lag: dict[str, int]


class LagSampler:
    """Samples, every `interval` seconds, each group's lag: high watermark minus committed.

    High watermarks come from fetch responses (`highwater()`), not from ListOffsets,
    which the local broker answers wrongly.
    """

    def __init__(self, bootstrap: str, groups: dict[str, list[str]], interval: float = 0.5):
        self._bootstrap = bootstrap
        self._groups = groups
        self._interval = interval
        self.samples: list[LagSample] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self, started_at: float) -> None:
        self._started_at = started_at
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        topics = sorted({topic for topics in self._groups.values() for topic in topics})
        watcher = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, auto_offset_reset="latest")
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap)
        await watcher.start()
        await admin.start()
        try:
            partitions = [
                TopicPartition(topic, partition)
                for topic in topics
                for partition in sorted(await watcher.partitions_for_topic(topic) or [])
            ]
            watcher.assign(partitions)
            while True:
                await watcher.getmany(timeout_ms=50, max_records=1)
                lag: dict[str, int] = {}
                for group, group_topics in self._groups.items():
                    committed = await admin.list_consumer_group_offsets(group)
                    total = 0
                    for partition in partitions:
                        if partition.topic not in group_topics:
                            continue
                        highwater = watcher.highwater(partition) or 0
                        offset = committed.get(partition)
                        total += max(highwater - (offset.offset if offset else 0), 0)
                    lag[group] = total
                self.samples.append(LagSample(time.perf_counter() - self._started_at, lag))
                await asyncio.sleep(self._interval)
        finally:
            await watcher.stop()
            await admin.close()
