"""The dashboard's unit of work: the read model on one transaction."""

from __future__ import annotations

from collections.abc import Sequence

from ifuno_shared.events import CloudEvent
from ifuno_shared.persistence import AbstractUnitOfWork, SqlUnitOfWork

from ifuno_dashboard.adapters.repository import DashboardRepository, ReadModel
from ifuno_dashboard.domain.projection import ApplicationEvent, selection_count


class DashboardUnitOfWork(AbstractUnitOfWork):
    views: ReadModel


class SqlDashboardUnitOfWork(SqlUnitOfWork, DashboardUnitOfWork):
    views: DashboardRepository

    async def _open_repositories(self) -> None:
        self.views = DashboardRepository(self.session)

    async def prefetch(self, events: Sequence[CloudEvent]) -> None:
        """The views of the batch's applications in one statement (`get` takes one per
        application), then the counts of the levels their events count; notifications
        and clock events read no view."""
        await self.views.prefetch(
            event.data.application_id
            for event in events
            if isinstance(event.data, ApplicationEvent)
        )
        await self.views.prefetch_counts(
            count[:2] for event in events if (count := selection_count(event.data)) is not None
        )
