"""The platform's one clock, as seen by a service from the timeline events it consumed.

Every service takes "now" from the last `clock_advanced` it applied, so a
simulated season behaves exactly like a real one. Due work (closing files,
expiring offers, reminders) runs in the window `(previous, now]` returned by
`advance`: each instant falls in exactly one window, so nothing fires twice and
nothing is skipped, whatever the size of the jumps.
"""

from __future__ import annotations

import abc
from datetime import datetime

from ifuno_shared.events.base import Phase
from ifuno_shared.events.timeline import ClockAdvanced, PhaseStarted

_PHASE_ORDER = {phase: index for index, phase in enumerate(Phase)}


class AbstractPlatformClock(abc.ABC):
    @abc.abstractmethod
    async def now(self) -> datetime | None:
        """The last instant the timeline announced, or None before the first."""

    @abc.abstractmethod
    async def _store_now(self, campaign: int, now: datetime) -> None: ...

    @abc.abstractmethod
    async def _phases(self, campaign: int) -> dict[Phase, tuple[datetime, datetime]]: ...

    @abc.abstractmethod
    async def _store_phase(self, event: PhaseStarted) -> bool: ...

    async def advance(self, event: ClockAdvanced) -> datetime | None:
        """Record a move of the clock; return the previous instant (the window's start).

        A repeat or a move backwards changes nothing and returns the current
        instant, so the window `(previous, now]` of the caller is empty.
        """
        current = await self.now()
        if current is not None and event.now <= current:
            return current
        await self._store_now(event.campaign, event.now)
        return current

    async def record_phase(self, event: PhaseStarted) -> bool:
        """Remember a phase's start; False if it was already known."""
        return await self._store_phase(event)

    async def current_phase(self, campaign: int) -> Phase | None:
        """The latest phase of the campaign that has started."""
        phases = await self._phases(campaign)
        if not phases:
            return None
        return max(phases, key=lambda phase: _PHASE_ORDER[phase])

    async def phase_window(self, campaign: int, phase: Phase) -> tuple[datetime, datetime] | None:
        return (await self._phases(campaign)).get(phase)


class InMemoryPlatformClock(AbstractPlatformClock):
    """For unit tests of handlers."""

    def __init__(self, now: datetime | None = None, campaign: int | None = None) -> None:
        self._now = now
        self.campaign = campaign
        self.phases: dict[tuple[int, Phase], tuple[datetime, datetime]] = {}

    async def now(self) -> datetime | None:
        return self._now

    async def _store_now(self, campaign: int, now: datetime) -> None:
        self.campaign, self._now = campaign, now

    async def _phases(self, campaign: int) -> dict[Phase, tuple[datetime, datetime]]:
        return {phase: window for (c, phase), window in self.phases.items() if c == campaign}

    async def _store_phase(self, event: PhaseStarted) -> bool:
        key = (event.campaign, event.phase)
        if key in self.phases:
            return False
        self.phases[key] = (event.starts_at, event.ends_at)
        return True
