"""The dashboard's read model: each application's way through the season, from events.

Pure: `apply` folds one event into an application's view; the funnel is computed
from the views, so a replayed event (same effect twice) changes no counter. Topics are
read independently and a dead letter can be re-driven late, so an application's view
does not depend on the order its events are read in (`_offer`, `_end_offer`).
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

CountedEvent: TypeAlias = (
    s.Admitted | s.OfferAccepted | s.OfferDeclined | s.OfferExpired | s.PlaceReleased
)
"""The events that may carry selection's count of a level's places."""


def selection_count(data: EventData) -> tuple[int, Level, int, int] | None:
    """Campaign, level, `places_change` and `places_held` of an event that carries
    selection's count of a level's places; None for any other (or one published before
    selection counted, or that names no campaign)."""
    if not isinstance(data, CountedEvent) or data.campaign is None or data.level is None:
        return None
    if data.places_change is None or data.places_held is None:
        return None
    return data.campaign, data.level, data.places_change, data.places_held


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
    offer_outcome: str | None = None  # how the last offer ended (`OUTCOMES`), None if open


OUTCOMES = {"declined": 1, "expired": 1, "accepted": 2, "released": 3}
"""How an offer ended, by precedence: an end read late never undoes a stronger one of
the same offer (a late acceptance is honoured after the expiry, a withdrawal releases an
accepted place), so the offer's end does not depend on the order it was read in."""


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
            return _offer(view, data)
        case s.Waitlisted() if view.waitlist_rank is not None:
            return replace(view, level=data.level)  # a rank change was read first
        case s.Waitlisted() if data.late_answer:
            # An on-time answer read after its offer expired: the offer did expire.
            return _waitlist(
                _end_offer(replace(view, expired=True), "expired"), data.rank, data.level
            )
        case s.Waitlisted() if view.admitted or view.offer_outcome is not None:
            return replace(view, level=data.level)  # read after its promotion: past
        case s.Waitlisted() | s.WaitlistRankChanged():
            return _waitlist(view, data.rank, data.level)
        case s.Refused():
            return replace(view, refusal_reason=data.reason)
        case s.OfferAccepted():
            return _end_offer(replace(view, accepted=True), "accepted")
        case s.OfferDeclined():
            return _end_offer(replace(view, declined=True), "declined")
        case s.OfferExpired():
            return _end_offer(replace(view, expired=True), "expired")
        case s.PlaceReleased():
            return _end_offer(replace(view, withdrawn=True), "released")
        case s.WaitlistClosed():
            return replace(
                view,
                waitlist_rank=None,
                waitlist_closed=True,
                level=data.level,
                campaign=data.campaign or view.campaign,
            )
    return view


def _offer(view: ApplicationView, data: s.Admitted) -> ApplicationView:
    """An offer, told apart from the others by its deadline and `from_waitlist`. It opens
    (a place held, off the waitlist) if it is the first offer read and no answer came
    before it, or a promotion from the waitlist the candidate went back on after an
    expired offer (an on-time answer read late): its deadline is later than the offer
    known so far, or none is known. The same offer read again, or an older one read late
    (a re-driven dead letter), never undoes an answer, an expiry or a release: an answer
    read before any offer is the first offer's."""
    known = view.offer_deadline
    if view.offer_outcome == "released":
        opens = False
    elif known is None:
        opens = view.offer_outcome is None or (data.from_waitlist and _relisted(view))
    else:
        opens = data.offer_deadline > known
    placed = replace(view, admitted=True, level=data.level, campaign=data.campaign or view.campaign)
    if not opens:
        return replace(placed, offer_deadline=known or data.offer_deadline)
    return replace(
        placed,
        holding="offered",
        offer_outcome=None,
        offer_deadline=data.offer_deadline,
        waitlist_rank=None,
    )


def _relisted(view: ApplicationView) -> bool:
    """Back on the waitlist after an offer expired (its on-time answer read late)."""
    return view.waitlist_rank is not None and view.offer_outcome == "expired"


def _end_offer(view: ApplicationView, outcome: str) -> ApplicationView:
    """The offer ends (read before its offer too: the offer, read later, stays ended);
    an end read after one as strong changes only its counter. An answer read while the
    candidate is back on the waitlist after an expired offer is a later offer's, not
    read yet: its deadline is forgotten so that the offer, read then, stays ended.
    Answers name no offer: with two offers, the first one's expiry read after the
    second offer (two dead letters, or one re-driven that late) still ends the second."""
    later = outcome != "expired" and _relisted(view)
    if not later and OUTCOMES[outcome] <= OUTCOMES.get(view.offer_outcome or "", 0):
        return view
    return replace(
        view,
        offer_outcome=outcome,
        holding="accepted" if outcome == "accepted" else None,
        waitlist_rank=None,
        offer_deadline=None if later else view.offer_deadline,
    )


def _waitlist(view: ApplicationView, rank: int, level: Level) -> ApplicationView:
    """On the waitlist with this rank, unless withdrawn, closed, or holding an offer
    (a rank read late, after the promotion, is past)."""
    if view.withdrawn or view.waitlist_closed or view.holding is not None:
        return replace(view, level=level)
    if view.offer_outcome not in (None, "expired"):
        return replace(view, level=level)
    return replace(view, waitlist_rank=rank, level=level)


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
    views: list[ApplicationView],
    capacities: Mapping[Level, int],
    counted: Mapping[Level, int] | None = None,
) -> dict[Level, LevelSummary]:
    """Each level's funnel, waitlist and places held: selection's last count of them
    (`counted`) where it gave one, else those the views hold (events published before
    selection counted; read in another order than made, they can show one too many)."""
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
        if counted and name in counted:
            summary.held = counted[name]
    return levels


def phases_in_force(
    default: list[tuple[Phase, datetime]], announced: Mapping[Phase, datetime]
) -> list[tuple[Phase, datetime]]:
    """Each phase's start in the calendar the timeline announced (its overrides), the
    default calendar's for a phase it did not announce (or before any announcement)."""
    return sorted(
        ((phase, announced.get(phase, starts_at)) for phase, starts_at in default),
        key=lambda item: item[1],
    )


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
