"""Knowing when the platform has caught up: every consumer group at its high watermark."""

from __future__ import annotations

import asyncio

from ifuno_shared.messaging.edge import LagReader


class Quiescence(LagReader):
    async def settle(self, timeout: float = 60.0) -> None:
        """Return once every group has consumed everything, twice in a row."""
        quiet = 0
        async with asyncio.timeout(timeout):
            while quiet < 2:
                lag = await self.lag()
                quiet = quiet + 1 if not any(lag.values()) else 0
                await asyncio.sleep(0.1)
