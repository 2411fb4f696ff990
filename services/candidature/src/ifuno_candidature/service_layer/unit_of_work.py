"""The candidature unit of work: the applications repository on one transaction."""

from __future__ import annotations

from ifuno_shared.persistence import AbstractUnitOfWork, SqlUnitOfWork

from ifuno_candidature.adapters.repository import (
    AbstractApplicationRepository,
    SqlApplicationRepository,
)


class CandidatureUnitOfWork(AbstractUnitOfWork):
    applications: AbstractApplicationRepository


class SqlCandidatureUnitOfWork(SqlUnitOfWork, CandidatureUnitOfWork):
    async def _open_repositories(self) -> None:
        self.applications = SqlApplicationRepository(self.session)
