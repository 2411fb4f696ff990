"""Which round a submission belongs to, decided by the portal's `submitted_at`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ifuno_shared.events import Round


@dataclass(frozen=True)
class RoundWindow:
    round: Round
    opens_at: datetime
    closes_at: datetime

    @property
    def deadline_end(self) -> datetime:
        """The deadline is a minute ("15 May, 23:59"): a file sent during it is on time."""
        return self.closes_at.replace(second=59, microsecond=999999)

    def contains(self, instant: datetime) -> bool:
        return self.opens_at <= instant <= self.deadline_end


def round_for(windows: list[RoundWindow], submitted_at: datetime) -> RoundWindow | None:
    return next((window for window in windows if window.contains(submitted_at)), None)
