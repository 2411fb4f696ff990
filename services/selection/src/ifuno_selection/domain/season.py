"""The dates of one campaign that decide what the places of a level may do, and when.

Pure: built from the campaign's calendar (the timeline's announcement, else the
default one) and the settings; the places of each level carry theirs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta

from ifuno_shared.calendar import PARIS, CampaignCalendar, late_from
from ifuno_shared.events import Phase, Round

from ifuno_selection.domain.rules import offer_deadline

# Where each phase's start (and, for a window, its end) lands in a campaign calendar.
PHASE_DATES: dict[Phase, tuple[str, str | None]] = {
    Phase.MAIN_SUBMISSIONS_OPEN: ("main_submissions_open", "main_submissions_close"),
    Phase.MAIN_SUBMISSIONS_CLOSED: ("main_submissions_close", None),
    Phase.MAIN_INTERVIEWS: ("main_interviews_start", "main_interviews_end"),
    Phase.MAIN_COMMITTEE: ("main_committee", None),
    Phase.COMPLEMENTARY_SUBMISSIONS_OPEN: (
        "complementary_submissions_open",
        "complementary_submissions_close",
    ),
    Phase.COMPLEMENTARY_SUBMISSIONS_CLOSED: ("complementary_submissions_close", None),
    Phase.COMPLEMENTARY_INTERVIEWS: (
        "complementary_interviews_start",
        "complementary_interviews_end",
    ),
    Phase.COMPLEMENTARY_COMMITTEE: ("complementary_committee", None),
    Phase.ACADEMIC_YEAR_START: ("academic_year_start", None),
}


def with_phases(
    calendar: CampaignCalendar, phases: Iterable[tuple[Phase, datetime, datetime]]
) -> CampaignCalendar:
    """The calendar with each phase's announced start (and window end) put in; not
    validated (`CampaignCalendar.validate` says whether the result is in order)."""
    dates: dict[str, datetime] = {}
    for phase, starts_at, ends_at in phases:
        start, end = PHASE_DATES[phase]
        dates[start] = starts_at.astimezone(PARIS)
        if end is not None:
            dates[end] = ends_at.astimezone(PARIS)
    return replace(calendar, **dates)  # type: ignore[arg-type]


def phase_start(calendar: CampaignCalendar, phase: Phase) -> datetime:
    start: datetime = getattr(calendar, PHASE_DATES[phase][0])
    return start


@dataclass(frozen=True)
class Season:
    """Offer deadlines, the expiry grace, the complementary submissions window and the
    start of the academic year. Without a calendar (unit tests of the places alone):
    no cap on deadlines, no complementary window, a waitlist never closed."""

    offer_days: int = 7
    grace: timedelta = timedelta(minutes=10)
    complementary_window: tuple[datetime, datetime] | None = None
    academic_year_start: datetime | None = None

    @classmethod
    def of(cls, calendar: CampaignCalendar, offer_days: int = 7, grace_minutes: int = 10) -> Season:
        return cls(
            offer_days,
            timedelta(minutes=grace_minutes),
            calendar.submission_window(Round.COMPLEMENTARY),
            calendar.academic_year_start,
        )

    @property
    def last_deadline(self) -> datetime | None:
        """23:59 Paris the day before the academic year starts: no offer runs later."""
        if self.academic_year_start is None:
            return None
        day = self.academic_year_start.astimezone(PARIS).date() - timedelta(days=1)
        return datetime.combine(day, time(23, 59), tzinfo=PARIS)

    def offer_deadline(self, decided_at: datetime) -> datetime:
        """`offer_days` after the decision at 23:59 Paris, capped by `last_deadline`."""
        deadline = offer_deadline(decided_at, self.offer_days)
        last = self.last_deadline
        return deadline if last is None else min(deadline, last)

    def can_offer(self, now: datetime) -> bool:
        """An offer made now could still be answered on time."""
        last = self.last_deadline
        return last is None or now < late_from(last)

    def on_time(self, deadline: datetime, answered_at: datetime) -> bool:
        """The candidate's own time decides; the whole deadline minute is on time."""
        return answered_at < late_from(deadline)

    def expires_at(self, deadline: datetime) -> datetime:
        """Expiry waits `grace` past the deadline minute, for on-time answers in flight."""
        return late_from(deadline) + self.grace

    def overdue(self, deadline: datetime, now: datetime) -> bool:
        return now >= self.expires_at(deadline)

    def complementary_open(self, now: datetime) -> bool:
        """Between the opening and the closing (its whole minute) of complementary
        submissions."""
        if self.complementary_window is None:
            return False
        opens, closes = self.complementary_window
        return opens <= now < late_from(closes)

    def waitlist_closed(self, now: datetime) -> bool:
        return self.academic_year_start is not None and now >= self.academic_year_start
