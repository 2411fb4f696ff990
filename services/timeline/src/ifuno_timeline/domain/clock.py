"""What one move of the platform clock announces. Pure rules, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ifuno_shared.calendar import CampaignCalendar
from ifuno_shared.errors import InvalidValue
from ifuno_shared.events import Phase
from ifuno_shared.events.timeline import CalendarChanged, ClockAdvanced, PhaseStarted, PhaseWindow


class ClockWentBackwards(InvalidValue):
    """The platform's clock never moves back: deadlines already handled stay handled."""

    field = "now"


@dataclass(frozen=True)
class Move:
    phases: list[PhaseStarted]
    tick: ClockAdvanced


def calendar_changed(calendar: CampaignCalendar) -> CalendarChanged:
    """The whole calendar in one event: every phase with its start and end."""
    return CalendarChanged(
        campaign=calendar.campaign,
        phases=[
            PhaseWindow(phase=phase, starts_at=starts_at, ends_at=ends_at)
            for phase, starts_at, ends_at in calendar.phases()
        ],
    )


def plan_move(
    calendar: CampaignCalendar,
    previous: datetime | None,
    now: datetime,
    already_published: set[Phase],
) -> Move:
    """The phases that started in (previous, now] and were not announced yet, in calendar
    order, then the clock's tick. A first move announces every phase already started."""
    if previous is not None and now < previous:
        raise ClockWentBackwards(
            f"the clock is at {previous.isoformat()}; it cannot move back to {now.isoformat()}"
        )
    windows = {phase: (starts, ends) for phase, starts, ends in calendar.phases()}
    phases = [
        PhaseStarted(
            campaign=calendar.campaign,
            phase=phase,
            starts_at=windows[phase][0],
            ends_at=windows[phase][1],
        )
        for phase in calendar.phases_between(None, now)
        if phase not in already_published
    ]
    return Move(
        phases=phases,
        tick=ClockAdvanced(campaign=calendar.campaign, now=now, previous=previous),
    )
