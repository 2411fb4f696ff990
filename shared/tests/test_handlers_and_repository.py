"""The kit's handler table (chosen by annotation) and its tracking repository."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from ifuno_shared.events import CloudEvent, EventData
from ifuno_shared.events.candidature import ApplicationCompleted, ApplicationWithdrawn
from ifuno_shared.events.portal import OfferAnswered
from ifuno_shared.messaging.subscription import (
    HandlerSignatureError,
    handlers_by_annotation,
)
from ifuno_shared.persistence import SqlUnitOfWork, outbox_table
from ifuno_shared.persistence.repository import TrackingRepository, UnsavedChanges, among
from ifuno_tools.testing.database import migrated_sessions
from ifuno_tools.testing.fakes import FakeRepository, FakeUnitOfWork
from ifuno_tools.testing.probe_service import MIGRATIONS_DIR, probe_effect
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


async def on_completed(event: CloudEvent[ApplicationCompleted], uow: Any) -> None:
    """Typed: `event.data.application_id` needs no isinstance."""


async def on_leaving(event: CloudEvent[ApplicationWithdrawn | OfferAnswered], uow: Any) -> None:
    """One handler for two event types."""


async def untyped(event: CloudEvent, uow: Any) -> None:
    """No event data named: refused."""


async def not_an_event(event: int, uow: Any) -> None:
    """Not an event at all: refused."""


@pytest.mark.unit
def test_handlers_are_chosen_by_the_annotation_of_their_event() -> None:
    table = handlers_by_annotation(on_completed, on_leaving)
    assert table == {
        ApplicationCompleted: on_completed,
        ApplicationWithdrawn: on_leaving,
        OfferAnswered: on_leaving,
    }


@pytest.mark.unit
@pytest.mark.parametrize("handler", [untyped, not_an_event])
def test_a_handler_without_a_typed_event_is_refused_at_start(handler: Any) -> None:
    with pytest.raises(HandlerSignatureError, match="CloudEvent"):
        handlers_by_annotation(handler)


@pytest.mark.unit
def test_one_event_type_has_one_handler() -> None:
    async def again(event: CloudEvent[ApplicationCompleted], uow: Any) -> None:
        """A second handler of the same type."""

    with pytest.raises(HandlerSignatureError, match="both"):
        handlers_by_annotation(on_completed, again)


@dataclass
class File:
    """A tiny aggregate: an application id, a counter, the events it raised."""

    application_id: str
    applied: int = 0
    events: list[EventData] = field(default_factory=list)

    def complete(self) -> None:
        self.applied += 1
        self.events.append(ApplicationCompleted(application_id=self.application_id))


class FakeFilesUnitOfWork(FakeUnitOfWork):
    def __init__(self, stored: list[File]) -> None:
        super().__init__()
        self.files = FakeRepository[str, File](lambda f: f.application_id, stored)
        self.repositories = [self.files]


@pytest.mark.unit
async def test_commit_publishes_the_events_of_the_aggregates_handled() -> None:
    uow = FakeFilesUnitOfWork([File("A-1"), File("A-2")])
    async with uow:
        first = await uow.files.get("A-1")
        assert first is not None
        first.complete()
        await uow.files.save(first)
        untouched = await uow.files.get("A-2")
        assert untouched is not None
        new = File("A-3")
        new.complete()
        uow.files.add(new)
        await uow.commit()
    assert [(e.subject, e.type) for e in uow.committed_events] == [
        ("A-1", ApplicationCompleted.event_type),
        ("A-3", ApplicationCompleted.event_type),
    ]
    assert uow.files.stored["A-1"].applied == 1


@pytest.mark.unit
async def test_an_aggregate_changed_but_never_saved_stops_the_commit() -> None:
    uow = FakeFilesUnitOfWork([File("A-1")])
    async with uow:
        forgotten = await uow.files.get("A-1")
        assert forgotten is not None
        forgotten.complete()
        with pytest.raises(UnsavedChanges):
            await uow.commit()
    assert uow.committed_events == []


class FileRepository(TrackingRepository[str, File]):
    """`probe_effect` rows as files (event_id = application id, applied = counter)."""

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self.loads: list[list[str]] = []

    def _key(self, aggregate: File) -> str:
        return aggregate.application_id

    async def _load(self, keys: list[str]) -> dict[str, File]:
        self.loads.append(keys)
        rows = await self.session.execute(
            select(probe_effect.c.event_id, probe_effect.c.applied)
            .where(among(probe_effect.c.event_id, keys))
            .with_for_update()
        )
        return {key: File(key, applied) for key, applied in rows}

    async def _write(self, aggregates: list[File], stored: set[str]) -> None:
        rows = [
            {"event_id": f.application_id, "application_id": f.application_id, "sequence": 0}
            | {"applied": f.applied}
            for f in aggregates
        ]
        statement = insert(probe_effect)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[probe_effect.c.event_id],
                set_={"applied": statement.excluded.applied},
            ),
            rows,
        )

    async def total(self) -> int:
        return int((await self.execute(select(func.sum(probe_effect.c.applied)))).scalar() or 0)


class FilesUnitOfWork(SqlUnitOfWork):
    files: FileRepository

    async def _open_repositories(self) -> None:
        self.files = FileRepository(self.session)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with migrated_sessions(database_url, MIGRATIONS_DIR) as factory:
        yield factory


@pytest.mark.integration
async def test_a_query_sees_what_was_saved_and_the_commit_writes_it_with_its_events(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with FilesUnitOfWork(sessions) as uow:
        await uow.files.prefetch(["F-1", "F-2"])
        assert await uow.files.get("F-1") is None
        for key in ("F-1", "F-2"):
            file = File(key)
            file.complete()
            await uow.files.save(file)
        assert uow.files.loads == [["F-1", "F-2"]], "saves of prefetched files read nothing"
        assert await uow.files.total() == 2, "the query flushed the saves first"
        await uow.commit()
    async with FilesUnitOfWork(sessions) as uow:
        file = await uow.files.get("F-1")
        assert file is not None and file.applied == 1 and file.events == []
        file.complete()
        assert (await uow.files.get("F-1")) == File("F-1", 1), "an unsaved change stays out"
        with pytest.raises(UnsavedChanges):
            await uow.commit()
    async with sessions() as session:
        published = await session.execute(select(outbox_table.c.key, outbox_table.c.type))
        assert sorted(published) == [
            ("F-1", ApplicationCompleted.event_type),
            ("F-2", ApplicationCompleted.event_type),
        ]
        assert await session.scalar(select(func.sum(probe_effect.c.applied))) == 2
