"""Selection's state in PostgreSQL. Places of a level are loaded under a row lock on
`level_capacity`, so offer-changing transactions of one level run one at a time."""

from __future__ import annotations

from copy import copy
from datetime import datetime, timedelta
from typing import Any

from ifuno_shared.calendar import PARIS
from ifuno_shared.events import Level, Round
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ifuno_selection.adapters.tables import (
    candidate,
    interview_slot,
    level_capacity,
    review,
)
from ifuno_selection.domain.candidate import Candidate, Status
from ifuno_selection.domain.places import LevelPlaces, Seat, SeatStatus

DEADLINE_MINUTE = timedelta(seconds=59, microseconds=999_999)
_INSERT_NEW = insert(candidate).on_conflict_do_nothing().returning(candidate.c.application_id)


class AlreadyStored(RuntimeError):
    """An application this transaction added, then read or saved in memory, was stored
    already: later events saw a file that is not the stored one. Raised before the
    commit; a consumer batch is then replayed one event per transaction."""


def _paris(instant: datetime | None) -> datetime | None:
    return None if instant is None else instant.astimezone(PARIS)


class SelectionRepository:
    """One transaction's candidates. A consumer batch holds the received and completed
    events of many applications, and every statement is a compile and a round trip: a
    new application stays in memory (read and saved there) until `flush` inserts all
    of them at once, before the commit and before any other statement that could see
    or refer to its row."""

    def __init__(self, session: AsyncSession, capacities: dict[Level, int]) -> None:
        self._session = session
        self._capacities = capacities
        self._new: dict[str, Candidate] = {}
        self._used_new: set[str] = set()

    def add(self, new: Candidate) -> None:
        """Inserted at `flush`, unless stored already (then, as for a second `add`,
        nothing changes)."""
        self._new.setdefault(new.application_id, copy(new))

    async def get(self, application_id: str, *, lock: bool = False) -> Candidate | None:
        """`lock` for staff commands on one file; place changes lock the level instead
        (always level first, so two writers never wait on each other in a cycle)."""
        if application_id in self._new:
            self._used_new.add(application_id)
            return copy(self._new[application_id])
        query = select(candidate).where(candidate.c.application_id == application_id)
        row = (
            (await self._session.execute(query.with_for_update() if lock else query))
            .mappings()
            .first()
        )
        return None if row is None else _candidate(row)

    async def save(self, who: Candidate) -> None:
        if who.application_id in self._new:
            self._used_new.add(who.application_id)
            self._new[who.application_id] = copy(who)
            return
        await self._session.execute(
            update(candidate)
            .where(candidate.c.application_id == who.application_id)
            .values(
                status=who.status.value,
                eligible=who.eligible,
                completed_at=who.completed_at,
                file_score=who.file_score,
                interview_score=who.interview_score,
                interview_by_video=who.interview_by_video,
                refusal_reason=who.refusal_reason,
            )
        )

    async def flush(self) -> None:
        """Insert the new applications in one multi-row INSERT. One stored already,
        and read or saved in memory, raises `AlreadyStored`: its events must see the
        stored file, as they do one per transaction."""
        if not self._new:
            return
        rows = [_new_row(who) for who in self._new.values()]
        used_new = self._used_new
        self._new, self._used_new = {}, set()
        inserted = set((await self._session.execute(_INSERT_NEW, rows)).scalars())
        if stale := used_new - inserted:
            raise AlreadyStored(f"stored before this transaction: {sorted(stale)}")

    async def add_review(
        self, application_id: str, reviewer: str, scores: dict[str, int], at: datetime
    ) -> list[dict[str, int]]:
        """Record (or replace) a reviewer's scores; return every review of the file."""
        await self.flush()
        values = {"scores": scores, "reviewed_at": at}
        await self._session.execute(
            insert(review)
            .values(application_id=application_id, reviewer=reviewer, **values)
            .on_conflict_do_update(index_elements=["application_id", "reviewer"], set_=values)
        )
        rows = await self._session.execute(
            select(review.c.scores).where(review.c.application_id == application_id)
        )
        return list(rows.scalars())

    async def taken_slots(self) -> set[datetime]:
        rows = await self._session.execute(select(interview_slot.c.starts_at))
        return {_paris(at) for at in rows.scalars()}  # type: ignore[misc]

    async def book_slot(
        self,
        application_id: str,
        starts_at: datetime,
        ends_at: datetime,
        location: str | None,
        video_url: str | None,
    ) -> bool:
        """Book a slot; False if another candidate got it first (the primary key says so)."""
        await self.flush()
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    interview_slot.insert().values(
                        starts_at=starts_at,
                        ends_at=ends_at,
                        application_id=application_id,
                        location=location,
                        video_url=video_url,
                    )
                )
        except IntegrityError:
            return False
        return True

    async def places(self, campaign: int, level: Level) -> LevelPlaces:
        await self.flush()
        await self._session.execute(
            insert(level_capacity)
            .values(campaign=campaign, level=level.value, capacity=self._capacities[level])
            .on_conflict_do_nothing()
        )
        capacity = (
            await self._session.execute(
                select(level_capacity.c.capacity)
                .where(level_capacity.c.campaign == campaign, level_capacity.c.level == level.value)
                .with_for_update()
            )
        ).scalar_one()
        rows = (
            await self._session.execute(
                select(candidate).where(
                    candidate.c.campaign == campaign,
                    candidate.c.level == level.value,
                    candidate.c.status.in_(["offered", "accepted", "waitlisted"]),
                )
            )
        ).mappings()
        places = LevelPlaces(campaign, level, capacity)
        waitlisted: list[tuple[int, str]] = []
        for row in rows:
            if row["status"] == "waitlisted":
                waitlisted.append((row["waitlist_rank"], row["application_id"]))
            else:
                places.seats[row["application_id"]] = Seat(
                    row["application_id"],
                    SeatStatus(row["status"]),
                    _paris(row["offer_deadline"]),
                    row["from_waitlist"],
                )
        places.waitlist = [application_id for _, application_id in sorted(waitlisted)]
        return places

    async def save_places(self, places: LevelPlaces) -> None:
        for application_id, status in places.left.items():
            await self._set(application_id, status=status, waitlist_rank=None)
        for seat in places.seats.values():
            await self._set(
                seat.application_id,
                status=seat.status.value,
                offer_deadline=seat.offer_deadline,
                from_waitlist=seat.from_waitlist,
                waitlist_rank=None,
            )
        for rank, application_id in enumerate(places.waitlist, start=1):
            await self._set(application_id, status="waitlisted", waitlist_rank=rank)
        places.left.clear()

    async def _set(self, application_id: str, **values: Any) -> None:
        await self._session.execute(
            update(candidate).where(candidate.c.application_id == application_id).values(**values)
        )

    async def for_committee(self, campaign: int, level: Level, round_: Round) -> list[Candidate]:
        await self.flush()
        rows = (
            await self._session.execute(
                select(candidate).where(
                    candidate.c.campaign == campaign,
                    candidate.c.level == level.value,
                    candidate.c.round == round_.value,
                    candidate.c.status.in_(["interviewed", "in_review"]),
                )
            )
        ).mappings()
        return [_candidate(row) for row in rows]

    async def expiring(self, until: datetime) -> list[tuple[int, Level, str]]:
        await self.flush()
        rows = await self._session.execute(
            select(candidate.c.campaign, candidate.c.level, candidate.c.application_id)
            .where(
                candidate.c.status == "offered",
                candidate.c.offer_deadline + DEADLINE_MINUTE < until,
            )
            .order_by(candidate.c.offer_deadline, candidate.c.application_id)
        )
        return [(c, Level(level), a) for c, level, a in rows]


def _new_row(who: Candidate) -> dict[str, Any]:
    return {
        "application_id": who.application_id,
        "campaign": who.campaign,
        "level": who.level.value,
        "round": who.round.value,
        "status": who.status.value,
        "eligible": who.eligible,
        "completed_at": who.completed_at,
        "file_score": who.file_score,
        "interview_score": who.interview_score,
        "interview_by_video": who.interview_by_video,
        "refusal_reason": who.refusal_reason,
        "from_waitlist": False,
    }


def _candidate(row: Any) -> Candidate:
    return Candidate(
        application_id=row["application_id"],
        campaign=row["campaign"],
        level=Level(row["level"]),
        round=Round(row["round"]),
        status=Status(row["status"]),
        eligible=row["eligible"],
        completed_at=_paris(row["completed_at"]),
        file_score=row["file_score"],
        interview_score=row["interview_score"],
        interview_by_video=row["interview_by_video"],
        refusal_reason=row["refusal_reason"],
    )
