"""In-memory doubles of the kit for unit tests of handlers (no I/O)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Generic, TypeVar

from ifuno_shared.clock import InMemoryPlatformClock
from ifuno_shared.events import CloudEvent
from ifuno_shared.persistence.repository import Aggregate, check_saved, without_events
from ifuno_shared.persistence.unit_of_work import AbstractUnitOfWork

A = TypeVar("A")
K = TypeVar("K")


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

    repositories: list[Any]
    """Fake repositories whose aggregates' events `commit` collects (subclasses fill it)."""

    def _aggregates_seen(self) -> Iterable[Aggregate]:
        for repository in getattr(self, "repositories", ()):
            yield from repository.seen()

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


class FakeRepository(Generic[K, A]):
    """A dict for a repository, with what the unit of work needs of one: the
    aggregates handed out or saved (whose events it collects). `key` names the
    aggregate's identity."""

    def __init__(self, key: Callable[[A], K], stored: Iterable[A] = ()) -> None:
        self._key = key
        self.stored: dict[K, A] = {key(a): copy.deepcopy(a) for a in stored}
        self._handed: list[A] = []
        self._saved: dict[int, A] = {}

    async def get(self, key: K) -> A | None:
        found = self.stored.get(key)
        if found is None:
            return None
        handed = copy.deepcopy(found)
        self._handed.append(handed)
        return handed

    async def save(self, aggregate: A) -> None:
        self._saved[id(aggregate)] = aggregate
        self.stored[self._key(aggregate)] = without_events(copy.deepcopy(aggregate))

    def add(self, aggregate: A) -> None:
        self._saved[id(aggregate)] = aggregate
        self.stored.setdefault(self._key(aggregate), without_events(copy.deepcopy(aggregate)))

    def seen(self) -> list[A]:
        """As the real one: the aggregates saved; one changed and unsaved is an error."""
        check_saved(self._handed, self._saved)
        return list(self._saved.values())
