"""The places of one level in one campaign: offers, accepted candidates, the waitlist.

The aggregate that keeps the capacity invariant: `accepted + pending offers <=
capacity`, whatever the order of declines, expiries and withdrawals. Every freed
place promotes the best-ranked waitlisted candidate at once, and every candidate
left on the waitlist whose rank changed is told. Its steps record the events they
cause in `events`, published by the unit of work when the places are saved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from ifuno_shared.events import EventData, Level, Round
from ifuno_shared.events import selection as events

from ifuno_selection.domain.rules import deadline_passed, offer_deadline


class SeatStatus(StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"


class CapacityExceeded(RuntimeError):
    """A bug guard: the aggregate never offers a place it does not have."""


class NoOpenOffer(ValueError):
    """An answer for an application that has no pending offer."""


@dataclass
class Seat:
    application_id: str
    status: SeatStatus
    offer_deadline: datetime
    from_waitlist: bool = False


@dataclass
class LevelPlaces:
    campaign: int
    level: Level
    capacity: int
    seats: dict[str, Seat] = field(default_factory=dict)
    waitlist: list[str] = field(default_factory=list)
    events: list[EventData] = field(default_factory=list, repr=False)
    left: dict[str, str] = field(default_factory=dict, repr=False)
    """Applications that lost their seat or waitlist place here, with their new status."""

    @property
    def free_places(self) -> int:
        return self.capacity - len(self.seats)

    def rank_of(self, application_id: str) -> int | None:
        try:
            return self.waitlist.index(application_id) + 1
        except ValueError:
            return None

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
        deadline = offer_deadline(decided_at)
        self.seats[application_id] = Seat(
            application_id, SeatStatus.OFFERED, deadline, from_waitlist
        )
        self.events.append(
            events.Admitted(
                application_id=application_id,
                level=self.level,
                offer_deadline=deadline,
                from_waitlist=from_waitlist,
                campaign=self.campaign,
                round=round_,
                total_score=total,
            )
        )

    def add_to_waitlist(self, application_ids: list[str]) -> None:
        for application_id in application_ids:
            self.waitlist.append(application_id)
            self.events.append(
                events.Waitlisted(
                    application_id=application_id,
                    level=self.level,
                    rank=len(self.waitlist),
                    campaign=self.campaign,
                )
            )

    def open_complementary_round(self) -> bool:
        """Places left once the waitlist is exhausted go to the complementary round."""
        if self.free_places <= 0 or self.waitlist:
            return False
        self.events.append(
            events.ComplementaryRoundOpened(
                campaign=self.campaign, level=self.level, free_places=self.free_places
            )
        )
        return True

    def accept(self, application_id: str) -> None:
        seat = self._open_offer(application_id)
        seat.status = SeatStatus.ACCEPTED
        self.events.append(events.OfferAccepted(application_id=application_id, level=self.level))

    def decline(self, application_id: str, now: datetime) -> None:
        self._open_offer(application_id)
        self._free(application_id, "declined")
        self.events.append(events.OfferDeclined(application_id=application_id, level=self.level))
        self.promote(now)

    def expire(self, application_id: str, now: datetime) -> None:
        self._open_offer(application_id)
        self._free(application_id, "expired")
        self.events.append(events.OfferExpired(application_id=application_id, level=self.level))
        self.promote(now)

    def expire_due(self, now: datetime) -> list[str]:
        """Expire every pending offer whose deadline minute has passed; each promotes."""
        due = sorted(
            (seat.offer_deadline, seat.application_id)
            for seat in self.seats.values()
            if seat.status is SeatStatus.OFFERED and deadline_passed(seat.offer_deadline, now)
        )
        for _, application_id in due:
            if application_id in self.seats:
                self.expire(application_id, now)
        return [application_id for _, application_id in due]

    def withdraw(self, application_id: str, now: datetime) -> bool:
        """A withdrawal frees a seat (and promotes) or a waitlist place (and re-ranks)."""
        if application_id in self.seats:
            self._free(application_id, "withdrawn")
            self.events.append(
                events.PlaceReleased(application_id=application_id, level=self.level)
            )
            self.promote(now)
            return True
        if application_id in self.waitlist:
            before = list(self.waitlist)
            self.waitlist.remove(application_id)
            self.left[application_id] = "withdrawn"
            self._announce_rank_changes(before)
            return True
        return False

    def promote(self, now: datetime) -> None:
        """A freed place goes to the top of the waitlist; the others are told their rank.

        One promotion per freed place: a place the committee left empty (too few
        candidates at the admission threshold) is not filled from the waitlist here.
        """
        before = list(self.waitlist)
        if self.free_places > 0 and self.waitlist:
            self.offer(self.waitlist.pop(0), now, from_waitlist=True)
        self._announce_rank_changes(before)

    def _announce_rank_changes(self, before: list[str]) -> None:
        for rank, application_id in enumerate(self.waitlist, start=1):
            previous = before.index(application_id) + 1
            if previous != rank:
                self.events.append(
                    events.WaitlistRankChanged(
                        application_id=application_id,
                        level=self.level,
                        rank=rank,
                        previous_rank=previous,
                    )
                )

    def _open_offer(self, application_id: str) -> Seat:
        seat = self.seats.get(application_id)
        if seat is None or seat.status is not SeatStatus.OFFERED:
            raise NoOpenOffer(f"no pending offer for {application_id}")
        return seat

    def _free(self, application_id: str, status: str) -> None:
        del self.seats[application_id]
        self.left[application_id] = status
