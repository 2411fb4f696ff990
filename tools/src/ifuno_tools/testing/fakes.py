"""In-memory doubles of the kit for unit tests of handlers (no I/O)."""

from __future__ import annotations

from datetime import datetime

from ifuno_shared.clock import InMemoryPlatformClock
from ifuno_shared.events import CloudEvent
from ifuno_shared.persistence.unit_of_work import AbstractUnitOfWork


class FakeUnitOfWork(AbstractUnitOfWork):
    """Records what a handler committed; subclass it to add fake repositories.

    `committed_events` holds the events of every committed unit, in order: what
    the outbox would have published.
    """

    def __init__(self, now: datetime | None = None, campaign: int | None = None) -> None:
        super().__init__()
        self.clock = InMemoryPlatformClock(now, campaign)
        self.commits = 0
        self.committed_events: list[CloudEvent] = []
        self.inbox: set[tuple[str, str]] = set()
        self._claimed: set[tuple[str, str]] = set()

    async def _commit(self) -> None:
        self.commits += 1
        self.committed_events.extend(self.published)
        self.inbox |= self._claimed
        self._claimed = set()

    async def rollback(self) -> None:
        self._claimed = set()

    async def claim_inbox(self, consumer: str, event_id: str) -> bool:
        key = (consumer, event_id)
        if key in self.inbox or key in self._claimed:
            return False
        self._claimed.add(key)
        return True
