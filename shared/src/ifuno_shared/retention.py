"""How long a campaign's personal data is kept: until a day of the next year (RULES:
eCandidat's default, 1 September of Y+1 for campaign Y, 00:00 Paris time).

Pure: each service asks which of its campaigns are past it at every clock move.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time

from ifuno_shared.calendar import paris

DEFAULT_RETENTION_UNTIL = "09-01"


def parse_month_day(value: str) -> tuple[int, int]:
    """`MM-DD` (a day that exists in every year: no 29 February)."""
    month_text, _, day_text = value.partition("-")
    if not (month_text.isdigit() and day_text.isdigit() and len(month_text) == len(day_text) == 2):
        raise ValueError("expected MM-DD, like 09-01")
    month, day = int(month_text), int(day_text)
    date(2001, month, day)  # raises ValueError for a day that does not exist
    return month, day


def retention_ends(campaign: int, until: str = DEFAULT_RETENTION_UNTIL) -> datetime:
    """The instant campaign `campaign`'s personal data must be gone: `until` of Y+1, 00:00."""
    month, day = parse_month_day(until)
    return paris(date(campaign + 1, month, day), time(0))


def campaigns_past_retention(
    campaigns: Iterable[int], now: datetime, until: str = DEFAULT_RETENTION_UNTIL
) -> list[int]:
    """The campaigns whose keeping time has ended at `now`, in order."""
    return sorted({c for c in campaigns if retention_ends(c, until) <= now})
