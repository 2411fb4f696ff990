"""The candidature unit of work: the applications repository on one transaction."""

from __future__ import annotations

from collections.abc import Sequence

from ifuno_shared.events import CloudEvent
from ifuno_shared.events.portal import ApplicationSubmitted, ApplicationWithdrawn, DocumentUploaded
from ifuno_shared.persistence import AbstractUnitOfWork, SqlUnitOfWork

from ifuno_candidature.adapters.repository import (
    ApplicationRepository,
    SqlApplicationRepository,
)


class CandidatureUnitOfWork(AbstractUnitOfWork):
    applications: ApplicationRepository


class SqlCandidatureUnitOfWork(SqlUnitOfWork, CandidatureUnitOfWork):
    applications: SqlApplicationRepository

    async def _open_repositories(self) -> None:
        self.applications = SqlApplicationRepository(self.session)

    async def prefetch(self, events: Sequence[CloudEvent]) -> None:
        """The applications a batch's portal events are about, and the candidates its
        submissions are checked for duplicates against (see `SqlApplicationRepository`)."""
        portal = [
            event.data
            for event in events
            if isinstance(
                event.data, ApplicationSubmitted | DocumentUploaded | ApplicationWithdrawn
            )
        ]
        await self.applications.prefetch(data.application_id for data in portal)
        await self.applications.prefetch_live(
            (data.candidate.candidate_id, data.campaign)
            for data in portal
            if isinstance(data, ApplicationSubmitted)
        )
