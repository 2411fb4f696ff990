"""The candidature unit of work: the applications repository on one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from ifuno_shared.events import CloudEvent
from ifuno_shared.events.portal import ApplicationSubmitted, ApplicationWithdrawn, DocumentUploaded
from ifuno_shared.persistence import AbstractUnitOfWork, SqlUnitOfWork
from ifuno_shared.persistence.unit_of_work import OnCommit
from ifuno_shared.retention import DEFAULT_RETENTION_UNTIL
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ifuno_candidature.adapters.repository import (
    ApplicationRepository,
    SqlApplicationRepository,
)
from ifuno_candidature.domain.model import DEADLINE_GRACE


class CandidatureUnitOfWork(AbstractUnitOfWork):
    applications: ApplicationRepository
    grace: timedelta = DEADLINE_GRACE
    """How long incomplete files wait past their deadline minute before closing."""
    retention_until: str = DEFAULT_RETENTION_UNTIL
    """The day of Y+1 (`MM-DD`) when campaign Y's personal data is erased."""


class SqlCandidatureUnitOfWork(SqlUnitOfWork, CandidatureUnitOfWork):
    applications: SqlApplicationRepository

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        on_commit: OnCommit | None = None,
        *,
        grace: timedelta = DEADLINE_GRACE,
        retention_until: str = DEFAULT_RETENTION_UNTIL,
    ) -> None:
        super().__init__(session_factory, on_commit)
        self.grace = grace
        self.retention_until = retention_until

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
        await self.applications.prefetch_erased(data.application_id for data in portal)
        await self.applications.prefetch(data.application_id for data in portal)
        await self.applications.prefetch_live(
            (data.candidate.candidate_id, data.campaign)
            for data in portal
            if isinstance(data, ApplicationSubmitted)
        )
