"""Every service's housekeeping loop: prune its outbox and inbox at an interval.

Supervised like the relay (`ServiceRunner._supervise`): a pass that fails (the database
away) is logged, marked down on `/ready` and started again. Several instances of a service
may prune at once: each statement skips the rows another one holds.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy.ext.asyncio import AsyncEngine

from ifuno_shared.metrics import HOUSEKEEPING_LAST_RUN, HOUSEKEEPING_OLDEST, HOUSEKEEPING_PRUNED
from ifuno_shared.persistence.housekeeping import Pruned, Windows, prune

log = logging.getLogger(__name__)


async def housekeeping_pass(service: str, engine: AsyncEngine, windows: Windows) -> Pruned:
    """Prune once and publish the pass's metrics."""
    pruned = await prune(engine, windows)
    for table, rows in pruned.rows.items():
        HOUSEKEEPING_PRUNED.labels(service, table).inc(rows)
    for table, age in pruned.oldest.items():
        seconds = 0.0 if age is None else age.total_seconds()
        HOUSEKEEPING_OLDEST.labels(service, table).set(seconds)
    HOUSEKEEPING_LAST_RUN.labels(service).set(time.time())
    if any(pruned.rows.values()):
        log.info("housekeeping of %s deleted %s", service, pruned.rows)
    return pruned


async def run_housekeeping(
    service: str, engine: AsyncEngine, windows: Windows, interval: float
) -> None:
    """A pass now, then one every `interval` seconds, for the life of the service."""
    while True:
        await housekeeping_pass(service, engine, windows)
        await asyncio.sleep(interval)
