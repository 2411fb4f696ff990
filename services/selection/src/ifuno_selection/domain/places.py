"""The places of one level in one campaign: offers, accepted candidates, the waitlist.

The aggregate that keeps the capacity invariant: `accepted + pending offers <=
capacity`, whatever the order of declines, expiries and withdrawals. A free place
never waits while someone is on the waitlist: every place left empty or freed goes
at once to the best-ranked waitlisted candidate, and every candidate left on the
waitlist whose rank changed is told. When the level has free places and no one
waiting while complementary submissions are open, its complementary round opens, and
closes when its places are all held again; a place freed again in the window with no
one waiting opens it again. Its steps record the events they cause in `events`,
published by the unit of work when the places are saved. Each event that changes the
places held carries their count after it and the change's number (`_counted`): this
aggregate is the authority on places, and readers see its changes in any order.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from ifuno_shared.events import EventData, Level, Round
from ifuno_shared.events import selection as events

from ifuno_selection.domain.season import Season

SeatGivenUp = events.OfferDeclined | events.OfferExpired | events.PlaceReleased
"""The events of a seat given up: each carries the places held after it."""


class SeatStatus(StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"


class RoundState(StrEnum):
    """The level's complementary round: open while it takes applications, closed once
    its places are held (until one frees again in the window with no one waiting)."""

    OPEN = "open"
    CLOSED = "closed"


class CapacityExceeded(RuntimeError):
    """A bug guard: the aggregate never offers a place it does not have."""


class NoOpenOffer(ValueError):
    """An answer for an application that has no pending offer."""


class LateAnswer(ValueError):
    """An answer given after the offer's deadline minute (the candidate's own time)."""


@dataclass
class Seat:
    application_id: str
    status: SeatStatus
    offer_deadline: datetime
    from_waitlist: bool = False
    two_year_plan: bool = False


@dataclass
class LevelPlaces:
    campaign: int
    level: Level
    capacity: int
    seats: dict[str, Seat] = field(default_factory=dict)
    waitlist: list[str] = field(default_factory=list)
    season: Season = field(default_factory=Season)
    complementary_round: RoundState | None = None
    late_answers: set[str] = field(default_factory=set)
    """Applications whose on-time acceptance was read after their offer expired (staff
    see them flagged)."""
    place_changes: int = 0
    """The changes of the places held so far (stored with the level): each numbers its
    event, so a reader orders a decline and the promotion that follows, published on two
    partitions, and never shows more places held than there were."""
    events: list[EventData] = field(default_factory=list, repr=False)
    left: dict[str, str] = field(default_factory=dict, repr=False)
    """Applications that lost their seat or waitlist place here, with their new status."""

    @property
    def free_places(self) -> int:
        return self.capacity - len(self.seats)

    def offer(
        self,
        application_id: str,
        decided_at: datetime,
        *,
        from_waitlist: bool = False,
        round_: Round | None = None,
        total: float | None = None,
    ) -> None:
        if self.free_places <= 0:
            raise CapacityExceeded(f"{self.level.value} {self.campaign} is full")
        deadline = self.season.offer_deadline(decided_at)
        self.seats[application_id] = Seat(
            application_id, SeatStatus.OFFERED, deadline, from_waitlist
        )
        held, change = self._counted()
        self.events.append(
            events.Admitted(
                application_id=application_id,
                level=self.level,
                offer_deadline=deadline,
                from_waitlist=from_waitlist,
                campaign=self.campaign,
                round=round_,
                total_score=total,
                places_held=held,
                places_change=change,
            )
        )

    def add_to_waitlist(self, application_ids: list[str], now: datetime) -> None:
        """The committee's waitlist, after anyone already on it: places it left empty go
        at once to the best ranked, and each candidate still waiting is told their rank."""
        before = list(self.waitlist)
        self.waitlist.extend(application_ids)
        self._settle(now, before, new=set(application_ids))

    def settle(self, now: datetime) -> None:
        """Free places to the waitlist, and the complementary round opened or closed, as
        things stand at `now` (when complementary submissions open, for instance)."""
        self._settle(now, list(self.waitlist))

    def accept(self, application_id: str, answered_at: datetime) -> None:
        seat = self._open_offer(application_id, answered_at)
        seat.status = SeatStatus.ACCEPTED  # the place the offer held: no change to count
        self.events.append(
            events.OfferAccepted(
                application_id=application_id, level=self.level, campaign=self.campaign
            )
        )

    def accept_late(
        self, application_id: str, deadline: datetime, answered_at: datetime, now: datetime
    ) -> None:
        """An on-time acceptance read after its offer expired: the place if one is still
        free; else first on the waitlist (or, once the waitlist is closed, told so)."""
        if application_id in self.seats or application_id in self.waitlist:
            raise NoOpenOffer(f"{application_id} holds a place or waits already")
        if not self.season.on_time(deadline, answered_at):
            raise LateAnswer(f"answer for {application_id} after its deadline")
        self.late_answers.add(application_id)
        self.left.pop(application_id, None)
        if self.free_places > 0:
            self.seats[application_id] = Seat(application_id, SeatStatus.ACCEPTED, deadline)
            held, change = self._counted()
            self.events.append(
                events.OfferAccepted(
                    application_id=application_id,
                    level=self.level,
                    campaign=self.campaign,
                    places_held=held,
                    places_change=change,
                )
            )
            self._review_round(now)
        elif self.season.waitlist_closed(now):
            self._close_on_waitlist(application_id)
        else:
            before = list(self.waitlist)
            self.waitlist.insert(0, application_id)
            self._settle(now, before, new={application_id})

    def decline(self, application_id: str, answered_at: datetime, now: datetime) -> None:
        self._open_offer(application_id, answered_at)
        before = list(self.waitlist)
        self._free(application_id, "declined", events.OfferDeclined)
        self._settle(now, before)

    def next_expiry(self) -> datetime | None:
        """The instant the first pending offer expires (its deadline minute and the grace
        passed); None without a pending offer."""
        return min(
            (
                self.season.expires_at(seat.offer_deadline)
                for seat in self.seats.values()
                if seat.status is SeatStatus.OFFERED
            ),
            default=None,
        )

    def expire(self, application_id: str, now: datetime) -> None:
        self._expire([application_id], now)

    def expire_due(self, now: datetime) -> list[str]:
        """Expire every pending offer overdue (its deadline minute and the grace passed);
        the places freed go to the waitlist together, each candidate told once."""
        due = [
            application_id
            for _, application_id in sorted(
                (seat.offer_deadline, seat.application_id)
                for seat in self.seats.values()
                if seat.status is SeatStatus.OFFERED
                and self.season.overdue(seat.offer_deadline, now)
            )
        ]
        if due:
            self._expire(due, now)
        return due

    def _expire(self, application_ids: list[str], now: datetime) -> None:
        before = list(self.waitlist)
        for application_id in application_ids:
            seat = self.seats.get(application_id)
            if seat is None or seat.status is not SeatStatus.OFFERED:
                raise NoOpenOffer(f"no pending offer for {application_id}")
            self._free(application_id, "expired", events.OfferExpired)
        self._settle(now, before)

    def withdraw(self, application_id: str, now: datetime) -> bool:
        """A withdrawal frees a seat (and promotes) or a waitlist place (and re-ranks)."""
        before = list(self.waitlist)
        if application_id in self.seats:
            self._free(application_id, "withdrawn", events.PlaceReleased)
        elif application_id in self.waitlist:
            self.waitlist.remove(application_id)
            self.left[application_id] = "withdrawn"
        else:
            return False
        self._settle(now, before)
        return True

    def close_waitlist(self) -> list[str]:
        """The academic year starts: no place will be offered to anyone still waiting."""
        closed, self.waitlist = self.waitlist, []
        for application_id in closed:
            self._close_on_waitlist(application_id)
        return closed

    def record_two_year_plan(self, application_id: str) -> bool:
        """An accepted M2 candidate's two-year plan (the place counts once, as before);
        False for anyone else, or when it is recorded already."""
        seat = self.seats.get(application_id)
        if (
            self.level is not Level.M2
            or seat is None
            or seat.status is not SeatStatus.ACCEPTED
            or seat.two_year_plan
        ):
            return False
        seat.two_year_plan = True
        self.events.append(
            events.TwoYearPlanRecorded(application_id=application_id, level=self.level)
        )
        return True

    def _settle(self, now: datetime, before: list[str], new: Collection[str] = ()) -> None:
        """Free places go to the top of the waitlist; each candidate still waiting is told
        their rank (a new one) or its change; then the complementary round is reviewed."""
        while self.free_places > 0 and self.waitlist and self.season.can_offer(now):
            self.offer(self.waitlist.pop(0), now, from_waitlist=True)
        previous = {application_id: rank for rank, application_id in enumerate(before, 1)}
        for rank, application_id in enumerate(self.waitlist, start=1):
            if application_id in new:
                self.events.append(
                    events.Waitlisted(
                        application_id=application_id,
                        level=self.level,
                        rank=rank,
                        campaign=self.campaign,
                        late_answer=application_id in self.late_answers,
                    )
                )
            elif previous.get(application_id, rank) != rank:
                self.events.append(
                    events.WaitlistRankChanged(
                        application_id=application_id,
                        level=self.level,
                        rank=rank,
                        previous_rank=previous[application_id],
                    )
                )
        self._review_round(now)

    def _review_round(self, now: datetime) -> None:
        """Checked at every change while complementary submissions are open, not once at
        their opening: free places and no one waiting open the round (again, after it
        closed); its places all held close it."""
        if self.complementary_round is not RoundState.OPEN:
            if self.free_places > 0 and not self.waitlist and self.season.complementary_open(now):
                self.complementary_round = RoundState.OPEN
                self.events.append(
                    events.ComplementaryRoundOpened(
                        campaign=self.campaign, level=self.level, free_places=self.free_places
                    )
                )
        elif self.complementary_round is RoundState.OPEN and self.free_places <= 0:
            self.complementary_round = RoundState.CLOSED
            self.events.append(
                events.ComplementaryRoundClosed(campaign=self.campaign, level=self.level)
            )

    def _close_on_waitlist(self, application_id: str) -> None:
        self.left[application_id] = "waitlist_closed"
        self.events.append(
            events.WaitlistClosed(
                application_id=application_id, level=self.level, campaign=self.campaign
            )
        )

    def _open_offer(self, application_id: str, answered_at: datetime) -> Seat:
        seat = self.seats.get(application_id)
        if seat is None or seat.status is not SeatStatus.OFFERED:
            raise NoOpenOffer(f"no pending offer for {application_id}")
        if not self.season.on_time(seat.offer_deadline, answered_at):
            raise LateAnswer(f"answer for {application_id} after its deadline")
        return seat

    def _counted(self) -> tuple[int, int]:
        """The places held after a change just made to the seats, and its number."""
        self.place_changes += 1
        return len(self.seats), self.place_changes

    def _free(
        self,
        application_id: str,
        status: str,
        told: type[SeatGivenUp],
    ) -> None:
        """A seat given up (`status`: how), and the event telling it, with the places
        held after it and the change's number."""
        del self.seats[application_id]
        self.left[application_id] = status
        held, change = self._counted()
        self.events.append(
            told(
                application_id=application_id,
                level=self.level,
                campaign=self.campaign,
                places_held=held,
                places_change=change,
            )
        )
