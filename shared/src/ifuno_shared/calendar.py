"""The campaign calendar (RULES.md), computed in Europe/Paris from the page's wording.

Pure: no I/O. Every date is overridable; an override that breaks the order of
the phases is refused with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from typing import overload
from zoneinfo import ZoneInfo

from ifuno_shared.errors import Conflict
from ifuno_shared.events.base import Phase, Round

PARIS = ZoneInfo("Europe/Paris")
MONDAY, FRIDAY = 0, 4


class InvalidCalendar(Conflict):
    """A calendar whose phases are not in order; the message says which (HTTP 409: the
    configuration, not the request, is at fault)."""


def paris(day: date, at: time) -> datetime:
    return datetime.combine(day, at, tzinfo=PARIS)


@overload
def in_paris(instant: datetime) -> datetime: ...
@overload
def in_paris(instant: None) -> None: ...
def in_paris(instant: datetime | None) -> datetime | None:
    """An instant read back from the database (UTC) as the platform shows it."""
    return None if instant is None else instant.astimezone(PARIS)


def late_from(deadline: datetime) -> datetime:
    """A deadline is a minute ("15 May, 23:59", "offer: 23:59"): what happens during
    it is on time, and lateness starts with the next minute (00:00 Paris time)."""
    return deadline.replace(second=0, microsecond=0) + timedelta(minutes=1)


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year, month + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _first_weekday(year: int, month: int, weekday: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7)


def _weekdays_from(start: date, count: int) -> date:
    """The `count`-th weekday counting `start` (a weekday) as the first."""
    day, seen = start, 0
    while True:
        if day.weekday() < 5:
            seen += 1
            if seen == count:
                return day
        day += timedelta(days=1)


@dataclass(frozen=True)
class CampaignCalendar:
    """The instants of one campaign; each phase runs from its start to the next one's."""

    campaign: int
    main_submissions_open: datetime
    main_submissions_close: datetime
    main_interviews_start: datetime
    main_interviews_end: datetime
    main_committee: datetime
    complementary_submissions_open: datetime
    complementary_submissions_close: datetime
    complementary_interviews_start: datetime
    complementary_interviews_end: datetime
    complementary_committee: datetime
    academic_year_start: datetime

    def phase_starts(self) -> list[tuple[Phase, datetime]]:
        """Phases in order with their start instants."""
        return [
            (Phase.MAIN_SUBMISSIONS_OPEN, self.main_submissions_open),
            (Phase.MAIN_SUBMISSIONS_CLOSED, self.main_submissions_close),
            (Phase.MAIN_INTERVIEWS, self.main_interviews_start),
            (Phase.MAIN_COMMITTEE, self.main_committee),
            (Phase.COMPLEMENTARY_SUBMISSIONS_OPEN, self.complementary_submissions_open),
            (Phase.COMPLEMENTARY_SUBMISSIONS_CLOSED, self.complementary_submissions_close),
            (Phase.COMPLEMENTARY_INTERVIEWS, self.complementary_interviews_start),
            (Phase.COMPLEMENTARY_COMMITTEE, self.complementary_committee),
            (Phase.ACADEMIC_YEAR_START, self.academic_year_start),
        ]

    def phases(self) -> list[tuple[Phase, datetime, datetime]]:
        """Each phase with its start and end (the end of a phase is the next one's start;
        the interview phases end with the interview window, the last phase a year on)."""
        starts = self.phase_starts()
        result = []
        for index, (phase, starts_at) in enumerate(starts):
            if phase is Phase.MAIN_SUBMISSIONS_OPEN:
                ends_at = self.main_submissions_close
            elif phase is Phase.COMPLEMENTARY_SUBMISSIONS_OPEN:
                ends_at = self.complementary_submissions_close
            elif phase is Phase.MAIN_INTERVIEWS:
                ends_at = self.main_interviews_end
            elif phase is Phase.COMPLEMENTARY_INTERVIEWS:
                ends_at = self.complementary_interviews_end
            elif index + 1 < len(starts):
                ends_at = starts[index + 1][1]
            else:
                ends_at = paris(date(self.campaign + 1, 9, 1), time(0, 0))
            result.append((phase, starts_at, ends_at))
        return result

    def phase_at(self, instant: datetime) -> Phase | None:
        """The latest phase started at `instant`, or None before the campaign opens."""
        current = None
        for phase, starts_at in self.phase_starts():
            if starts_at <= instant:
                current = phase
        return current

    def phases_between(self, after: datetime | None, until: datetime) -> list[Phase]:
        """Phases whose start lies in (after, until], in order."""
        return [
            phase
            for phase, starts_at in self.phase_starts()
            if (after is None or starts_at > after) and starts_at <= until
        ]

    def submission_window(self, round_: Round) -> tuple[datetime, datetime]:
        if round_ is Round.MAIN:
            return self.main_submissions_open, self.main_submissions_close
        return self.complementary_submissions_open, self.complementary_submissions_close

    def interview_window(self, round_: Round) -> tuple[datetime, datetime]:
        if round_ is Round.MAIN:
            return self.main_interviews_start, self.main_interviews_end
        return self.complementary_interviews_start, self.complementary_interviews_end

    def committee(self, round_: Round) -> datetime:
        return self.main_committee if round_ is Round.MAIN else self.complementary_committee

    def with_overrides(self, overrides: Mapping[str, datetime]) -> CampaignCalendar:
        unknown = set(overrides) - (set(CampaignCalendar.__dataclass_fields__) - {"campaign"})
        if unknown:
            raise InvalidCalendar(f"unknown calendar dates: {', '.join(sorted(unknown))}")
        for name, value in overrides.items():
            if value.tzinfo is None:
                raise InvalidCalendar(f"{name}: a date needs a time zone offset")
        return replace(self, **dict(overrides)).validate()  # type: ignore[arg-type]

    def validate(self) -> CampaignCalendar:
        """Refuse dates out of order, naming the two that clash."""
        order = [
            "main_submissions_open",
            "main_submissions_close",
            "main_interviews_start",
            "main_interviews_end",
            "main_committee",
            "complementary_submissions_open",
            "complementary_submissions_close",
            "complementary_interviews_start",
            "complementary_interviews_end",
            "complementary_committee",
            "academic_year_start",
        ]
        for earlier, later in pairwise(order):
            if getattr(self, earlier) >= getattr(self, later):
                raise InvalidCalendar(
                    f"{later} ({getattr(self, later).isoformat()}) must come after "
                    f"{earlier} ({getattr(self, earlier).isoformat()})"
                )
        return self


def default_calendar(year: int) -> CampaignCalendar:
    """RULES.md's defaults for campaign `year`."""
    june_first_weekday = _weekdays_from(date(year, 6, 1), 1)
    august_last_friday = _last_weekday(year, 8, FRIDAY)
    last_week_monday = august_last_friday - timedelta(days=4)
    return CampaignCalendar(
        campaign=year,
        main_submissions_open=paris(_last_weekday(year, 4, MONDAY), time(9, 0)),
        main_submissions_close=paris(date(year, 5, 15), time(23, 59)),
        main_interviews_start=paris(june_first_weekday, time(9, 0)),
        main_interviews_end=paris(_weekdays_from(june_first_weekday, 10), time(17, 0)),
        main_committee=paris(_last_weekday(year, 6, FRIDAY), time(14, 0)),
        complementary_submissions_open=paris(date(year, 7, 1), time(0, 0)),
        complementary_submissions_close=paris(date(year, 8, 15), time(23, 59)),
        complementary_interviews_start=paris(last_week_monday, time(9, 0)),
        complementary_interviews_end=paris(last_week_monday + timedelta(days=3), time(17, 0)),
        complementary_committee=paris(august_last_friday, time(14, 0)),
        academic_year_start=paris(_first_weekday(year, 9, MONDAY), time(9, 0)),
    ).validate()
