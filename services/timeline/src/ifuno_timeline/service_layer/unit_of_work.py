"""The timeline's unit of work: its repository on the kit's transaction."""

from __future__ import annotations

from ifuno_shared.persistence import AbstractUnitOfWork, SqlUnitOfWork

from ifuno_timeline.adapters.repository import (
    AbstractTimelineRepository,
    SqlTimelineRepository,
)


class TimelineUnitOfWork(AbstractUnitOfWork):
    timeline: AbstractTimelineRepository


class SqlTimelineUnitOfWork(SqlUnitOfWork, TimelineUnitOfWork):
    async def _open_repositories(self) -> None:
        self.timeline = SqlTimelineRepository(self.session)
