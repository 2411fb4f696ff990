"""Consumer lag over time, sampled while a benchmark runs."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from ifuno_shared.messaging.edge import LagReader


@dataclass
class LagSample:
    at: float
    lag: dict[str, int]


class LagSampler:
    def __init__(self, reader: LagReader, started_at: float, interval: float = 0.5) -> None:
        self._reader = reader
        self._started_at = started_at
        self._interval = interval
        self.samples: list[LagSample] = []
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._reader.start()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._reader.stop()

    async def _run(self) -> None:
        while True:
            lag = await self._reader.lag()
            self.samples.append(LagSample(time.perf_counter() - self._started_at, lag))
            await asyncio.sleep(self._interval)
