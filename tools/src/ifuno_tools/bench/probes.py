"""What the benchmark watches while a system runs: the sink's acknowledgements,
each consumer group's lag, and a progress line every second."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import TextIO

from ifuno_shared.messaging.edge import LagReader

from ifuno_tools.bench.load import Sent
from ifuno_tools.bench.sink import SinkMailbox


@dataclass
class LagSample:
    at: float
    lag: dict[str, int]


def lag_between(samples: list[LagSample], start: float, end: float) -> list[LagSample]:
    """The samples taken in [start, end], timed from `start`."""
    return [LagSample(s.at - start, s.lag) for s in samples if start <= s.at <= end]


def progress_line(
    label: str, elapsed: float, sent: int, acknowledged: int, lag: dict[str, int]
) -> str:
    groups = " ".join(f"{group}={behind}" for group, behind in sorted(lag.items()))
    return (
        f"[{label}] {elapsed:5.0f} s  sent {sent:>6}  acknowledged {acknowledged:>6}  "
        f"in flight {sent - acknowledged:>6}  lag {groups or '-'}"
    )


class Watch:
    """Reads the sink's dumps every half second; every second samples the lag and
    prints a progress line for the current phase."""

    def __init__(
        self,
        mailbox: SinkMailbox,
        reader: LagReader,
        *,
        interval: float = 0.5,
        out: TextIO = sys.stdout,
    ) -> None:
        self.mailbox = mailbox
        self.samples: list[LagSample] = []
        self._reader = reader
        self._interval = interval
        self._out = out
        self._task: asyncio.Task[None] | None = None
        self._label = ""
        self._started = time.time()
        self._expected: Collection[str] = ()
        self._sent = Sent()

    async def start(self) -> None:
        await self._reader.start()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._reader.stop()

    def phase(self, label: str, expected: Collection[str], sent: Sent) -> None:
        """From now on, progress is about these applications."""
        self._label, self._expected, self._sent = label, expected, sent
        self._started = time.time()

    def acknowledged(self, expected: Collection[str]) -> int:
        first = self.mailbox.first
        return sum(1 for recipient in expected if recipient in first)

    async def wait_all(self, expected: Collection[str], timeout: float) -> bool:
        """True once each expected recipient has its acknowledgement; False at timeout."""
        deadline = time.monotonic() + timeout
        while self.acknowledged(expected) < len(expected):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(self._interval)
        return True

    async def _run(self) -> None:
        ticks = 0
        while True:
            # On a thread: reading a second's dumps must not delay the load's sends.
            await asyncio.to_thread(self.mailbox.collect)
            if ticks % round(1 / self._interval) == 0:
                try:
                    lag = await self._reader.lag()
                except Exception as error:  # a missed sample must not stop the mail reading
                    lag = {}
                    print(f"lag not read: {type(error).__name__}", file=self._out)
                now = time.time()
                self.samples.append(LagSample(now, lag))
                if self._label:
                    print(
                        progress_line(
                            self._label,
                            now - self._started,
                            self._sent.count,
                            self.acknowledged(self._expected),
                            lag,
                        ),
                        file=self._out,
                        flush=True,
                    )
            ticks += 1
            await asyncio.sleep(self._interval)
