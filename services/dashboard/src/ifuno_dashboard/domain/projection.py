"""The dashboard's read model: each application's way through the season, from events.

Pure: `apply` folds one event into an application's view; the funnel is computed
from the views, so a replayed event (same effect twice) changes no counter.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeAlias

from ifuno_shared.events import EventData, Level, Phase
from ifuno_shared.events import candidature as c
from ifuno_shared.events import selection as s

ApplicationEvent: TypeAlias = (
    c.ApplicationReceived
    | c.ApplicationCompleted
    | c.ApplicationRefused
    | c.ApplicationWithdrawn
    | s.Shortlisted
    | s.InterviewRecorded
    | s.Admitted
    | s.Waitlisted
    | s.WaitlistRankChanged
    | s.Refused
    | s.OfferAccepted
    | s.OfferDeclined
    | s.OfferExpired
    | s.PlaceReleased
    | s.WaitlistClosed
)
"""The events that move an application's view (`apply` folds them)."""

FUNNEL = (
    "received",
    "complete",
    "refused",
    "shortlisted",
    "interviewed",
    "admitted",
    "accepted",
    "declined",
    "expired",
    "waitlisted",
    "withdrawn",
)


@dataclass(frozen=True)
class ApplicationView:
    application_id: str
    campaign: int | None = None
    level: Level | None = None
    received: bool = False
    complete: bool = False
    refusal_reason: str | None = None
    shortlisted: bool = False
    interviewed: bool = False
    admitted: bool = False
    holding: str | None = None  # "offered" or "accepted": a place counted against capacity
    accepted: bool = False
    declined: bool = False
    expired: bool = False
    waitlist_rank: int | None = None
    withdrawn: bool = False
    offer_deadline: datetime | None = None
    waitlist_closed: bool = False  # still waitlisted when the academic year started


def apply(view: ApplicationView, data: EventData) -> ApplicationView:
    """The view after one event (the same event twice gives the same view)."""
    match data:
        case c.ApplicationReceived():
            return replace(view, campaign=data.campaign, level=data.level, received=True)
        case c.ApplicationCompleted():
            return replace(view, complete=True)
        case c.ApplicationRefused():
            return replace(
                view,
                campaign=data.campaign or view.campaign,
                level=data.level or view.level,
                refusal_reason=data.reason,
            )
        case c.ApplicationWithdrawn():
            return replace(view, withdrawn=True, waitlist_rank=None)
        case s.Shortlisted():
            return replace(view, shortlisted=True, level=data.level)
        case s.InterviewRecorded():
            return replace(view, interviewed=view.interviewed or data.attended)
        case s.Admitted():
            return replace(
                view,
                admitted=True,
                holding="offered",
                waitlist_rank=None,
                offer_deadline=data.offer_deadline,
                level=data.level,
                campaign=data.campaign or view.campaign,
            )
        case s.Waitlisted() | s.WaitlistRankChanged():
            if view.withdrawn or view.waitlist_closed:  # read late: the list is left
                return replace(view, level=data.level)
            return replace(view, waitlist_rank=data.rank, level=data.level)
        case s.Refused():
            return replace(view, refusal_reason=data.reason)
        case s.OfferAccepted():
            return replace(view, holding="accepted", accepted=True)
        case s.OfferDeclined():
            return replace(view, holding=None, declined=True)
        case s.OfferExpired():
            return replace(view, holding=None, expired=True)
        case s.PlaceReleased():
            return replace(view, holding=None, withdrawn=True)
        case s.WaitlistClosed():
            return replace(
                view,
                waitlist_rank=None,
                waitlist_closed=True,
                level=data.level,
                campaign=data.campaign or view.campaign,
            )
    return view


def waitlist_rank(view: ApplicationView) -> int | None:
    """The rank of a candidate still waiting for a place: none once withdrawn, whichever
    of the withdrawal and the waitlisting was read first (they come on two topics)."""
    return None if view.withdrawn else view.waitlist_rank


@dataclass
class LevelSummary:
    level: Level
    capacity: int
    funnel: dict[str, int] = field(default_factory=dict)
    refusals: dict[str, int] = field(default_factory=dict)
    held: int = 0
    waitlist: list[tuple[int, str]] = field(default_factory=list)

    @property
    def places_left(self) -> int:
        return self.capacity - self.held


def summarise(
    views: list[ApplicationView], capacities: Mapping[Level, int]
) -> dict[Level, LevelSummary]:
    levels = {level: LevelSummary(level, capacity) for level, capacity in capacities.items()}
    for level in levels.values():
        level.funnel = dict.fromkeys(FUNNEL, 0)
    refusals: dict[Level, Counter[str]] = {level: Counter() for level in levels}
    for view in views:
        if view.level is None or view.level not in levels:
            continue
        summary = levels[view.level]
        flags = {
            "received": view.received,
            "complete": view.complete,
            "refused": view.refusal_reason is not None,
            "shortlisted": view.shortlisted,
            "interviewed": view.interviewed,
            "admitted": view.admitted,
            "accepted": view.accepted,
            "declined": view.declined,
            "expired": view.expired,
            "waitlisted": waitlist_rank(view) is not None,
            "withdrawn": view.withdrawn,
        }
        for name, flag in flags.items():
            summary.funnel[name] += int(flag)
        if view.refusal_reason:
            refusals[view.level][view.refusal_reason] += 1
        if view.holding is not None:
            summary.held += 1
        rank = waitlist_rank(view)
        if rank is not None:
            summary.waitlist.append((rank, view.application_id))
    for name, summary in levels.items():
        summary.refusals = dict(sorted(refusals[name].items()))
        summary.waitlist.sort()
    return levels


def next_deadline(
    phase_starts: list[tuple[Phase, datetime]],
    now: datetime | None,
    views: list[ApplicationView],
) -> tuple[str, datetime] | None:
    """The next phase to start after `now`, or the first offer deadline if it comes
    before; compared as instants (the database gives UTC, the calendar Paris time)."""
    phase = next(
        ((p.value, starts_at) for p, starts_at in phase_starts if now is None or starts_at > now),
        None,
    )
    offer = min(
        (v.offer_deadline for v in views if v.holding == "offered" and v.offer_deadline),
        default=None,
    )
    if offer is not None and (phase is None or offer < phase[1]):
        return "offer_deadline", offer
    return phase
