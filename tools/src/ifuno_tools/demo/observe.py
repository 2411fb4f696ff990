"""Knowing when the platform has caught up: every consumer group at its high watermark."""

from __future__ import annotations

import asyncio

from ifuno_shared.messaging.edge import LagReader

QUIET_GAP = 0.1
"""Seconds between readings, and so between the two that must both find no lag: a relay
publishes what a consumer's transaction wrote to its outbox just after the commit, and a
single reading could fall between the two."""


class Quiescence(LagReader):
    async def settle(self, timeout: float = 60.0) -> None:
        """Return once every group has consumed everything, twice in a row: at once on
        the second quiet reading (a season settles some 300 times; a pause after it
        would add half a minute to each played season and to the tests)."""
        quiet = 0
        async with asyncio.timeout(timeout):
            while True:
                lag = await self.lag()
                quiet = quiet + 1 if not any(lag.values()) else 0
                if quiet == 2:
                    return
                await asyncio.sleep(QUIET_GAP)
