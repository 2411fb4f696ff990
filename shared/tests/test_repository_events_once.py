"""An aggregate read again after a save in the same unit of work does not carry the
events of the first save: each event is published once."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from ifuno_shared.events import EventData
from ifuno_shared.events.candidature import ApplicationCompleted
from ifuno_shared.persistence.repository import TrackingRepository
from ifuno_tools.testing.fakes import FakeRepository, FakeUnitOfWork

pytestmark = pytest.mark.unit


@dataclass
class File:
    application_id: str
    events: list[EventData] = field(default_factory=list)

    def complete(self) -> None:
        self.events.append(ApplicationCompleted(application_id=self.application_id))


class NoDatabase:
    """Just what a repository needs of a session when nothing is read or written."""

    def __init__(self) -> None:
        self.info: dict[str, Any] = {}


class Files(TrackingRepository[str, File]):
    def _key(self, aggregate: File) -> str:
        return aggregate.application_id

    async def _load(self, keys: list[str]) -> dict[str, File]:
        return {key: File(key) for key in keys}

    async def _write(self, aggregates: list[File], stored: set[str]) -> None:
        """Nothing to write to."""


class TwoHandlersUnitOfWork(FakeUnitOfWork):
    def __init__(self, files: Any) -> None:
        super().__init__()
        self.files = files
        self.repositories = [files]


@pytest.mark.parametrize(
    "files",
    [lambda: Files(NoDatabase()), lambda: FakeRepository[str, File](lambda f: f.application_id)],
    ids=["tracking", "fake"],
)
async def test_two_handlers_on_one_aggregate_publish_each_event_once(files: Any) -> None:
    uow = TwoHandlersUnitOfWork(files())
    async with uow:
        first = await uow.files.get("A-1") or File("A-1")
        first.complete()
        await uow.files.save(first)
        second = await uow.files.get("A-1")
        assert second is not None and second.events == []
        second.complete()
        await uow.files.save(second)
        await uow.commit()
    assert [e.subject for e in uow.committed_events] == ["A-1", "A-1"]
