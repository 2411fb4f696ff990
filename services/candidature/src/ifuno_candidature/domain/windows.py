"""Which round a submission belongs to, decided by the portal's `submitted_at`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ifuno_shared.calendar import default_calendar, late_from
from ifuno_shared.events import Round


@dataclass(frozen=True)
class RoundWindow:
    round: Round
    opens_at: datetime
    closes_at: datetime

    @property
    def late_from(self) -> datetime:
        return late_from(self.closes_at)

    def contains(self, instant: datetime) -> bool:
        return self.opens_at <= instant < self.late_from


def default_windows(campaign: int) -> list[RoundWindow]:
    """RULES.md's calendar, shared with the timeline: used until the timeline announces."""
    calendar = default_calendar(campaign)
    return [RoundWindow(r, *calendar.submission_window(r)) for r in Round]


def round_for(windows: list[RoundWindow], submitted_at: datetime) -> RoundWindow | None:
    return next((window for window in windows if window.contains(submitted_at)), None)
