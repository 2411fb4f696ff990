"""The timeline's HTTP API: the calendar, and moving a simulated clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from ifuno_shared.calendar import CampaignCalendar
from ifuno_shared.events import Phase
from ifuno_shared.events.base import Timestamp
from ifuno_shared.http import RequestBody, Staff, require_role
from pydantic import BaseModel, ConfigDict


class PhaseOut(BaseModel):
    phase: Phase
    starts_at: datetime
    ends_at: datetime


class CalendarOut(BaseModel):
    campaign: int
    timezone: str = "Europe/Paris"
    phases: list[PhaseOut]
    now: datetime | None = None
    current_phase: Phase | None = None


class ClockMove(RequestBody):
    model_config = ConfigDict(strict=False)  # `now` is checked by `Timestamp` itself

    now: Timestamp
    """RFC 3339 with seconds and offset; a Unix time is refused, not read."""


class ClockMoved(BaseModel):
    campaign: int
    now: datetime
    phases_started: list[Phase]


CalendarFor = Callable[[int], CampaignCalendar]
Mover = Callable[[datetime], Awaitable[list[Phase]]]
Reader = Callable[[int], Awaitable[datetime | None]]


def build_router(
    campaign: int, calendar_for: CalendarFor, move: Mover, read_now: Reader, simulated: bool
) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["timeline"])

    @router.get("/calendar/{year}")
    async def calendar(year: int) -> CalendarOut:
        """The campaign's phases (public information, as on the programme page).

        Only reads; 409 when the calendar configured for that year is invalid."""
        if not 2000 <= year <= 2100:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no campaign {year}")
        dates = calendar_for(year)
        now = await read_now(year) if year == campaign else None
        return CalendarOut(
            campaign=year,
            phases=[PhaseOut(phase=p, starts_at=s, ends_at=e) for p, s, e in dates.phases()],
            now=now,
            current_phase=dates.phase_at(now) if now else None,
        )

    @router.post("/clock")
    async def move_clock(
        body: ClockMove, _: Annotated[Staff, Depends(require_role("admin"))]
    ) -> ClockMoved:
        """Move the simulated clock forward (never back: 422); 409 with the real clock."""
        if not simulated:
            raise HTTPException(
                status.HTTP_409_CONFLICT, "the clock is real (IFUNO_CLOCK=real): it cannot be moved"
            )
        phases = await move(body.now)
        return ClockMoved(campaign=campaign, now=body.now, phases_started=phases)

    return router
