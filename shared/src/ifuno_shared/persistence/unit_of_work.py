"""The unit of work: state, outbox rows and inbox mark commit together, or not at all."""

from __future__ import annotations

import abc
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Self

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ifuno_shared.clock import AbstractPlatformClock
from ifuno_shared.events import CloudEvent, EventData, Topic, encode_event, new_event
from ifuno_shared.persistence.platform_clock import SqlPlatformClock
from ifuno_shared.persistence.repository import Aggregate, flush_session, repositories_of
from ifuno_shared.persistence.tables import INBOX, inbox_table, outbox_table

_CLAIM_MANY = text(
    f"INSERT INTO {INBOX} (consumer, event_id)"
    " SELECT :consumer, unnest(CAST(:event_ids AS varchar[]))"
    " ON CONFLICT DO NOTHING RETURNING event_id"
)


class AbstractUnitOfWork(abc.ABC):
    """`async with uow:` rolls back on exit unless `commit()` was called."""

    clock: AbstractPlatformClock

    def __init__(self) -> None:
        self.published: list[CloudEvent] = []
        self.tombstones: list[tuple[Topic, str]] = []
        self._committed = False

    async def __aenter__(self) -> Self:
        self.published = []
        self.tombstones = []
        self._committed = False
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._committed:
            await self.rollback()

    def publish(self, data: EventData, *, subject: str) -> CloudEvent:
        """Stage an event: it is written to the outbox by `commit()`, with the state."""
        event = new_event(data, subject=subject)
        self.published.append(event)
        return event

    def tombstone(self, topic: Topic, key: str) -> None:
        """Stage a tombstone (the key, no value) on a compacted topic: once compacted, the
        topic keeps nothing of that key. Written to the outbox by `commit()`, after the
        events staged before it."""
        self.tombstones.append((topic, key))

    def publish_raised(self) -> None:
        """Stage the events the aggregates raised so far. An event published directly
        after this follows them, in a batch as in one transaction per event (else the
        aggregates' events would be staged at commit, after it)."""
        for data in self.collect_new_events():
            self.publish(data, subject=data.subject)

    async def forget_outbox(self, keys: Sequence[str]) -> None:
        """An erasure: drop the events staged so far about these keys (and, in the
        database, this service's outbox rows about them, published or not), so nothing
        personal is left waiting. What is staged after it is written at commit."""
        self.publish_raised()
        gone = set(keys)
        self.published = [event for event in self.published if event.key not in gone]

    async def commit(self) -> None:
        """Publish the new events of every aggregate the handler touched, then write
        state and outbox together."""
        self.publish_raised()
        await self._commit()
        self._committed = True

    def collect_new_events(self) -> Iterator[EventData]:
        """The events raised by the aggregates this unit of work handed out or was
        given, each taken once: aggregate by aggregate, in the order each raised them."""
        for aggregate in self._aggregates_seen():
            while aggregate.events:
                yield aggregate.events.pop(0)

    def _aggregates_seen(self) -> Iterable[Aggregate]:
        """The aggregates of this unit's repositories (none by default)."""
        return ()

    @abc.abstractmethod
    async def _commit(self) -> None: ...

    @abc.abstractmethod
    async def rollback(self) -> None: ...

    @abc.abstractmethod
    async def claim_inbox(self, consumer: str, event_id: str) -> bool:
        """Mark an incoming event as applied; False if this consumer applied it before."""

    async def prefetch(self, events: Sequence[CloudEvent]) -> None:  # noqa: B027 (optional hook)
        """Load, in a few statements, what the handlers of a batch of events are about
        to read one event at a time. Optional: handlers work the same without it;
        a service overrides it where the round trips per event cost the most."""

    async def claim_inbox_many(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        """Mark a batch of events as applied; return the ids this consumer had not
        applied before (an id repeated in the batch is claimed once)."""
        claimed: set[str] = set()
        for event_id in dict.fromkeys(event_ids):
            if await self.claim_inbox(consumer, event_id):
                claimed.add(event_id)
        return claimed


OnCommit = Callable[[], None]


def outbox_row(event: CloudEvent) -> dict[str, str | None]:
    """An event as its outbox row (the relay publishes `value` to `topic` under `key`)."""
    return {
        "event_id": event.id,
        "topic": event.data.topic.value,
        "key": event.key,
        "type": event.type,
        "value": encode_event(event).decode(),
    }


TOMBSTONE_TYPE = "tombstone"
"""The outbox `type` of a tombstone row (its value is NULL)."""


class SqlUnitOfWork(AbstractUnitOfWork):
    """One database transaction; subclasses add repositories in `_open_repositories`."""

    session: AsyncSession

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        on_commit: OnCommit | None = None,
    ) -> None:
        super().__init__()
        self._session_factory = session_factory
        self._on_commit = on_commit

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.session = self._session_factory()
        self.clock = SqlPlatformClock(self.session)
        await self._open_repositories()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await super().__aexit__(exc_type, exc, tb)
        finally:
            await self.session.close()

    async def _open_repositories(self) -> None:
        """Build the service's repositories on `self.session`."""

    def _aggregates_seen(self) -> Iterable[Aggregate]:
        for repository in repositories_of(self.session):
            yield from repository.seen()

    async def _commit(self) -> None:
        """What the repositories hold back is written first (they cannot be forgotten)."""
        await flush_session(self.session)
        rows = [outbox_row(event) for event in self.published] + [
            {
                "event_id": f"tombstone-{uuid.uuid4()}",
                "topic": topic.value,
                "key": key,
                "type": TOMBSTONE_TYPE,
                "value": None,
            }
            for topic, key in self.tombstones
        ]
        if rows:
            await self.session.execute(outbox_table.insert(), rows)
        await self.session.commit()
        if rows and self._on_commit is not None:
            self._on_commit()

    async def forget_outbox(self, keys: Sequence[str]) -> None:
        await super().forget_outbox(keys)
        if keys:
            await flush_session(self.session)
            await self.session.execute(
                outbox_table.delete().where(outbox_table.c.key.in_(list(keys)))
            )

    async def rollback(self) -> None:
        await self.session.rollback()

    async def claim_inbox(self, consumer: str, event_id: str) -> bool:
        statement = (
            insert(inbox_table)
            .values(consumer=consumer, event_id=event_id)
            .on_conflict_do_nothing()
            .returning(inbox_table.c.event_id)
        )
        result = await self.session.execute(statement)
        return result.first() is not None

    async def claim_inbox_many(self, consumer: str, event_ids: Sequence[str]) -> set[str]:
        """One statement for the whole batch (a round trip per event was a tenth of a
        consumer's time under load)."""
        if not event_ids:
            return set()
        result = await self.session.execute(
            _CLAIM_MANY, {"consumer": consumer, "event_ids": list(dict.fromkeys(event_ids))}
        )
        return set(result.scalars())
