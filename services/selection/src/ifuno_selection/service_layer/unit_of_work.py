"""Selection's unit of work, with the settings its rules need."""

from __future__ import annotations

from ifuno_shared.persistence import SqlUnitOfWork
from ifuno_shared.persistence.unit_of_work import OnCommit
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ifuno_selection.adapters.repository import (
    CalendarRepository,
    CandidateRepository,
    PlacesRepository,
)
from ifuno_selection.config import SelectionSettings
from ifuno_selection.domain.season import Season


class SelectionUnitOfWork(SqlUnitOfWork):
    candidates: CandidateRepository
    places: PlacesRepository
    calendars: CalendarRepository

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        on_commit: OnCommit | None,
        settings: SelectionSettings,
    ) -> None:
        super().__init__(session_factory, on_commit)
        self.settings = settings

    async def _open_repositories(self) -> None:
        self.candidates = CandidateRepository(self.session)
        self.calendars = CalendarRepository(self.session)
        self.places = PlacesRepository(
            self.session, self.settings.capacities, self.candidates, self.season
        )

    async def season(self, campaign: int) -> Season:
        """The campaign's dates and the settings the places of its levels follow."""
        return self.settings.season(await self.calendars.calendar(campaign))
