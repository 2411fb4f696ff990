"""Selection rules (RULES.md): scores, ranking, committee decisions, slots, deadlines.
Pure functions over plain values; no I/O."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from ifuno_shared.calendar import PARIS

CRITERIA = ("training_involvement", "digital_practice", "project", "study_capacity")


@dataclass(frozen=True)
class Thresholds:
    shortlist: float = 10.0  # file score out of 20
    admission: float = 24.0  # file + interview, out of 40
    waitlist: float = 20.0


def file_score(reviews: Iterable[dict[str, int]]) -> float:
    """The four criteria (0 to 5 each) summed, averaged over the reviewers: out of 20."""
    totals = [sum(review[c] for c in CRITERIA) for review in reviews]
    if not totals:
        raise ValueError("a file score needs at least one review")
    return round(sum(totals) / len(totals), 2)


@dataclass(frozen=True)
class Ranked:
    application_id: str
    total: float
    completed_at: datetime


def rank(candidates: Iterable[Ranked]) -> list[Ranked]:
    """Best total first; ties go to the file completed first, then the id (stable)."""
    return sorted(candidates, key=lambda c: (-c.total, c.completed_at, c.application_id))


@dataclass
class CommitteeDecision:
    admitted: list[Ranked] = field(default_factory=list)
    waitlisted: list[Ranked] = field(default_factory=list)
    refused: list[Ranked] = field(default_factory=list)


def committee(
    candidates: Iterable[Ranked], free_places: int, thresholds: Thresholds
) -> CommitteeDecision:
    """The top `free_places` at or above the admission threshold are admitted; the next
    ones at or above the waitlist threshold are waitlisted in rank order; the rest refused."""
    decision = CommitteeDecision()
    for candidate in rank(candidates):
        if candidate.total >= thresholds.admission and len(decision.admitted) < free_places:
            decision.admitted.append(candidate)
        elif candidate.total >= thresholds.waitlist:
            decision.waitlisted.append(candidate)
        else:
            decision.refused.append(candidate)
    return decision


def offer_deadline(decided_at: datetime, days: int = 7) -> datetime:
    """`days` after the decision, at 23:59 Paris time that day."""
    day = decided_at.astimezone(PARIS).date() + timedelta(days=days)
    return datetime.combine(day, time(23, 59), tzinfo=PARIS)


SLOT = timedelta(minutes=30)


def interview_slots(
    window_start: datetime,
    window_end: datetime,
    day_start: time = time(9, 0),
    day_end: time = time(17, 0),
) -> list[datetime]:
    """Every 30-minute slot on weekdays inside the window, in Paris time."""
    slots = []
    day: date = window_start.astimezone(PARIS).date()
    last: date = window_end.astimezone(PARIS).date()
    while day <= last:
        if day.weekday() < 5:
            start = datetime.combine(day, day_start, tzinfo=PARIS)
            while start + SLOT <= datetime.combine(day, day_end, tzinfo=PARIS):
                if window_start <= start and start + SLOT <= window_end:
                    slots.append(start)
                start += SLOT
        day += timedelta(days=1)
    return slots


def choose_slot(
    slots: Sequence[datetime], taken: set[datetime], now: datetime, notice: timedelta
) -> datetime | None:
    """The first free slot at least `notice` ahead; else the first free one still ahead
    (`short_notice` says which)."""
    free = [slot for slot in slots if slot not in taken and slot > now]
    ahead = [slot for slot in free if slot >= now + notice]
    choices = ahead or free
    return choices[0] if choices else None


def short_notice(slot: datetime, now: datetime, notice: timedelta) -> tuple[int, bool]:
    """Whole days between the invitation and the interview, and whether they fall short
    of the rule's notice."""
    return (slot - now).days, slot < now + notice
