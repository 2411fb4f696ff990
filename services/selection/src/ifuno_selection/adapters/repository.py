"""Selection's state in PostgreSQL: candidates, and the places of each level.

Both are tracking repositories (`ifuno_shared.persistence.repository`): read once,
kept, written at the flush, one statement per table for a whole consumer batch.
The places of a level are read under a row lock on `level_capacity`, so the
transactions that change offers of one level run one at a time. Lock order: the
level first, then its candidates' rows (written by the places); a candidate row is
never locked on reading by an event, or two writers could wait on each other.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from ifuno_shared.calendar import CampaignCalendar, default_calendar, in_paris, late_from
from ifuno_shared.events import Level, Phase, Round
from ifuno_shared.events.timeline import PhaseWindow
from ifuno_shared.persistence.repository import TrackingRepository, among, flush_session
from ifuno_shared.persistence.tables import platform_phase_table
from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    DateTime,
    bindparam,
    delete,
    func,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ifuno_selection.adapters.tables import (
    campaign_phase,
    candidate,
    interview_slot,
    level_capacity,
    phase_done,
    review,
)
from ifuno_selection.domain.candidate import PLACED, UNFINISHED, Candidate, Status
from ifuno_selection.domain.places import LevelPlaces, RoundState, Seat, SeatStatus
from ifuno_selection.domain.season import Season, with_phases


def _new_version() -> Any:
    """A random 63-bit version: a write that did not happen can never look like it did
    (a counter would: two writers both make it n + 1)."""
    return func.floor(func.random() * 9.2e18).cast(BigInteger)


_INSERT_NEW = insert(candidate).on_conflict_do_nothing().returning(candidate.c.application_id)
_UPDATE = (
    update(candidate)
    .where(
        candidate.c.application_id == bindparam("b_application_id"),
        candidate.c.version == bindparam("b_read_version"),
    )
    .values(
        version=bindparam("b_version"),
        status=bindparam("b_status"),
        eligible=bindparam("b_eligible"),
        completed_at=bindparam("b_completed_at"),
        file_score=bindparam("b_file_score"),
        interview_score=bindparam("b_interview_score"),
        interview_by_video=bindparam("b_interview_by_video"),
        interview_notes=bindparam("b_interview_notes"),
        refusal_reason=bindparam("b_refusal_reason"),
    )
)
_PLACE = (
    update(candidate)
    .where(candidate.c.application_id == bindparam("b_application_id"))
    .values(
        version=_new_version(),
        status=bindparam("b_status"),
        waitlist_rank=bindparam("b_waitlist_rank"),
        # A seat sets its offer; a file leaving or waiting keeps what it had.
        offer_deadline=func.coalesce(
            bindparam("b_offer_deadline", type_=DateTime(timezone=True)),
            candidate.c.offer_deadline,
        ),
        from_waitlist=func.coalesce(
            bindparam("b_from_waitlist", type_=Boolean), candidate.c.from_waitlist
        ),
        # Flags, once set, stay: staff see them.
        late_answer=candidate.c.late_answer | bindparam("b_late_answer", type_=Boolean),
        two_year_plan=candidate.c.two_year_plan | bindparam("b_two_year_plan", type_=Boolean),
    )
)
_LEVEL = (
    update(level_capacity)
    .where(
        level_capacity.c.campaign == bindparam("b_campaign"),
        level_capacity.c.level == bindparam("b_level"),
    )
    .values(complementary_round=bindparam("b_round"), place_changes=bindparam("b_changes"))
)
PLACED_STATUSES = sorted(status.value for status in PLACED)

LevelKey = tuple[int, Level]


class StaleCandidate(RuntimeError):
    """A file changed since this transaction read it (a staff command, or the level's
    places, got there first): nothing of the transaction is kept, and the step is
    applied again on the file as it is now (a consumer retries; staff get a 409)."""


class AlreadyStored(RuntimeError):
    """An application this transaction added, then read or saved in memory, was stored
    already: later events saw a file that is not the stored one. Raised before the
    commit; a consumer batch is then replayed one event per transaction."""


def _copy_candidate(who: Candidate) -> Candidate:
    """Every field but the events is immutable: a new object with no events will do."""
    return dataclasses.replace(who, events=[])


class CandidateRepository(TrackingRepository[str, Candidate]):
    """One transaction's candidates, by application id. A consumer batch holds the
    received and completed events of many applications: a new application stays in
    memory (read and saved there) until the flush inserts all of them at once, before
    the commit and before any other query that could see or refer to its row."""

    copies = staticmethod(_copy_candidate)

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self._adding: set[str] = set()
        self._used: set[str] = set()
        """Of the applications added and not inserted yet, those read or saved since."""

    def _key(self, aggregate: Candidate) -> str:
        return aggregate.application_id

    def add(self, aggregate: Candidate) -> None:
        """Inserted at the flush, unless stored already (then, as for a second `add`,
        nothing changes)."""
        if aggregate.application_id not in self._adding:
            self._adding.add(aggregate.application_id)
            super().add(aggregate)

    async def get(self, key: str, *, lock: bool = False) -> Candidate | None:
        """`lock` for staff commands on one file; place changes lock the level instead
        (always level first, so two writers never wait on each other in a cycle)."""
        if lock:
            await self.execute(
                select(candidate.c.application_id)
                .where(candidate.c.application_id == key)
                .with_for_update()
            )
        self._use(key)
        return await super().get(key)

    async def save(self, aggregate: Candidate) -> None:
        self._use(aggregate.application_id)
        await super().save(aggregate)

    async def fresh(self, key: str) -> Candidate | None:
        """The file as stored now (after the level's lock was taken), not as read before."""
        self.forget(lambda who: who.application_id == key)
        return await self.get(key)

    def _use(self, key: str) -> None:
        if key in self._adding:
            self._used.add(key)

    async def _load(self, keys: list[str]) -> dict[str, Candidate]:
        rows = await self.session.execute(
            select(candidate).where(among(candidate.c.application_id, keys))
        )
        return {row["application_id"]: _candidate(row) for row in rows.mappings()}

    async def _write(self, aggregates: list[Candidate], stored: set[str]) -> None:
        """Changed files in one UPDATE, new ones in one multi-row INSERT. A new one
        stored already keeps its stored row: read again later, unless this transaction
        read or saved it in memory (`AlreadyStored`: its events must see the stored
        file, as they do one per transaction)."""
        changed = [_changed_row(who) for who in aggregates if who.application_id in stored]
        if changed:
            await self.session.execute(_UPDATE, changed)
            await self._check_written(changed)
        new = [who for who in aggregates if who.application_id not in stored]
        if not new:
            return
        keys = {who.application_id for who in new}
        used = self._used & keys
        self._adding -= keys
        self._used -= keys
        rows = [_new_row(who) for who in new]
        inserted = set((await self.session.execute(_INSERT_NEW, rows)).scalars())
        if stale := used - inserted:
            raise AlreadyStored(f"stored before this transaction: {sorted(stale)}")
        if kept := keys - inserted:
            self.forget(lambda who: who.application_id in kept)

    async def _check_written(self, changed: list[dict[str, Any]]) -> None:
        """Each UPDATE matched only if the row still had the version read: the row now
        holds the version this transaction wrote, or another writer's (`StaleCandidate`).
        Kept copies take their new version, for a second write in the same transaction."""
        written = {row["b_application_id"]: row["b_version"] for row in changed}
        rows = await self.session.execute(
            select(candidate.c.application_id, candidate.c.version).where(
                among(candidate.c.application_id, list(written))
            )
        )
        stale = sorted(
            row.application_id for row in rows if written[row.application_id] != row.version
        )
        if stale:
            raise StaleCandidate(f"changed by another transaction: {len(stale)} file(s)")
        for key, version in written.items():
            kept = self._known.get(key)
            if kept is not None:
                kept.version = version

    async def add_review(
        self,
        application_id: str,
        reviewer: str,
        scores: dict[str, int],
        at: datetime,
        note: str | None = None,
    ) -> list[dict[str, int]]:
        """Record (or replace) a reviewer's scores and note; return every review's
        scores of the file."""
        values = {"scores": scores, "reviewed_at": at, "note": note}
        await self.execute(
            insert(review)
            .values(application_id=application_id, reviewer=reviewer, **values)
            .on_conflict_do_update(index_elements=["application_id", "reviewer"], set_=values)
        )
        rows = await self.execute(
            select(review.c.scores).where(review.c.application_id == application_id)
        )
        return list(rows.scalars())

    async def taken_slots(self) -> set[datetime]:
        rows = await self.execute(select(interview_slot.c.starts_at))
        return {in_paris(at) for at in rows.scalars()}

    async def book_slot(
        self,
        application_id: str,
        starts_at: datetime,
        ends_at: datetime,
        location: str | None,
        video_url: str | None,
        notice: tuple[int, bool],
    ) -> bool:
        """Book a slot; False if another candidate got it first (the primary key says so).
        `notice`: whole days ahead, and whether that is short of the rule (staff see it)."""
        await flush_session(self.session)  # only the booking inside the savepoint
        try:
            async with self.session.begin_nested():
                await self.execute(
                    interview_slot.insert().values(
                        starts_at=starts_at,
                        ends_at=ends_at,
                        application_id=application_id,
                        location=location,
                        video_url=video_url,
                        notice_days=notice[0],
                        short_notice=notice[1],
                    )
                )
        except IntegrityError:
            return False
        return True

    async def anonymize(self, application_ids: Sequence[str]) -> None:
        """An erasure: the files' scores and staff notes go (the reviews keep their
        reviewer and date, staff data, without scores or note) and so do their interview
        slots; status, level and dates stay for the counts. What this transaction read
        of them is read again."""
        ids = sorted(set(application_ids))
        await self._anonymize(among(candidate.c.application_id, ids))
        wanted = set(ids)
        self._known = {key: known for key, known in self._known.items() if key not in wanted}

    async def anonymize_campaign(self, campaign: int) -> None:
        """The end of a campaign's keeping time: every file of it as in `anonymize`."""
        await self._anonymize(candidate.c.campaign == campaign)
        self._known = {
            key: known
            for key, known in self._known.items()
            if known is None or known.campaign != campaign
        }

    async def _anonymize(self, which: ColumnElement[bool]) -> None:
        files = select(candidate.c.application_id).where(which).scalar_subquery()
        await self.execute(
            update(candidate)
            .where(
                which,
                candidate.c.file_score.isnot(None)
                | candidate.c.interview_score.isnot(None)
                | candidate.c.interview_notes.isnot(None),
            )
            .values(
                file_score=None, interview_score=None, interview_notes=None, version=_new_version()
            )
        )
        await self.execute(
            update(review)
            .where(
                review.c.application_id.in_(files),
                (review.c.scores != text("'{}'::jsonb")) | review.c.note.isnot(None),
            )
            .values(scores={}, note=None)
        )
        await self.execute(delete(interview_slot).where(interview_slot.c.application_id.in_(files)))

    async def campaigns_up_to(self, up_to: int) -> list[int]:
        rows = await self.execute(
            select(candidate.c.campaign).where(candidate.c.campaign <= up_to).distinct()
        )
        return sorted(rows.scalars())

    async def for_committee(self, campaign: int, level: Level, round_: Round) -> list[Candidate]:
        """The files the committee of a round decides on: interviewed (ranked), or not
        reviewed or not interviewed in time (refused there). Locked and read as stored
        (the level is locked first): a withdrawal, an erasure or a staff override
        committed meanwhile by another transaction is seen, never overwritten by an
        offer or a waitlist place."""
        rows = await self.execute(
            select(candidate.c.application_id)
            .where(
                candidate.c.campaign == campaign,
                candidate.c.level == level.value,
                candidate.c.round == round_.value,
                candidate.c.status.in_(
                    [Status.INTERVIEWED.value, *(status.value for status in UNFINISHED)]
                ),
            )
            .order_by(candidate.c.application_id)
            .with_for_update()
        )
        keys = set(rows.scalars())
        self.forget(lambda who: who.application_id in keys)
        return await self.get_many(sorted(keys))

    async def expiring(self, until: datetime, grace: timedelta) -> list[tuple[int, Level, str]]:
        """Pending offers overdue at `until` (their deadline minute and the grace past),
        deadline first (decided again under the lock)."""
        rows = await self.execute(
            select(
                candidate.c.campaign,
                candidate.c.level,
                candidate.c.application_id,
                candidate.c.offer_deadline,
            )
            # A deadline not reached yet is never late; the minute rule is `late_from`'s.
            .where(
                candidate.c.status == Status.OFFERED.value,
                candidate.c.offer_deadline < until - grace,
            )
            .order_by(candidate.c.offer_deadline, candidate.c.application_id)
        )
        return [
            (row.campaign, Level(row.level), row.application_id)
            for row in rows.all()
            if late_from(row.offer_deadline) + grace <= until
        ]


def _copy_places(places: LevelPlaces) -> LevelPlaces:
    return dataclasses.replace(
        places,
        seats={key: dataclasses.replace(seat) for key, seat in places.seats.items()},
        waitlist=list(places.waitlist),
        late_answers=set(places.late_answers),
        left=dict(places.left),
        events=[],
    )


class PlacesRepository(TrackingRepository[LevelKey, LevelPlaces]):
    """The places of each level, keyed (campaign, level), read under the level's row
    lock (created at the configured capacity on first use) and written as the
    candidates' statuses, ranks and offers. Saving places changes candidate rows:
    the candidates of that level are read again afterwards. A candidate's own steps
    never take a file in or out of the places, so they leave the places as read."""

    copies = staticmethod(_copy_places)

    def __init__(
        self,
        session: AsyncSession,
        capacities: dict[Level, int],
        candidates: CandidateRepository,
        seasons: Callable[[int], Awaitable[Season]],
    ) -> None:
        super().__init__(session)
        self._capacities = capacities
        self._candidates = candidates
        self._seasons = seasons

    def _key(self, aggregate: LevelPlaces) -> LevelKey:
        return aggregate.campaign, aggregate.level

    async def level(self, campaign: int, level: Level) -> LevelPlaces:
        """The places of a level, locked until the commit."""
        places = await self.get((campaign, level))
        if places is None:
            raise LookupError(f"no places for {level.value} {campaign}")  # _load makes them
        return places

    async def save(self, aggregate: LevelPlaces) -> None:
        await super().save(aggregate)
        key = self._key(aggregate)
        self._candidates.forget(lambda who: (who.campaign, who.level) == key)

    async def refresh(self, campaign: int) -> None:
        """The campaign's calendar changed: its levels are read again with it."""
        await flush_session(self.session)
        self.forget(lambda places: places.campaign == campaign)

    async def _load(self, keys: list[LevelKey]) -> dict[LevelKey, LevelPlaces]:
        keys = sorted(keys)
        await self.session.execute(
            insert(level_capacity).on_conflict_do_nothing(),
            [
                {"campaign": campaign, "level": level.value, "capacity": self._capacities[level]}
                for campaign, level in keys
            ],
        )
        wanted = tuple_(level_capacity.c.campaign, level_capacity.c.level).in_(
            [(campaign, level.value) for campaign, level in keys]
        )
        capacities = await self.session.execute(
            select(
                level_capacity.c.campaign,
                level_capacity.c.level,
                level_capacity.c.capacity,
                level_capacity.c.complementary_round,
                level_capacity.c.place_changes,
            )
            .where(wanted)
            .order_by(level_capacity.c.campaign, level_capacity.c.level)
            .with_for_update()
        )
        seasons = {campaign: await self._seasons(campaign) for campaign, _ in keys}
        found = {
            (campaign, Level(level)): LevelPlaces(
                campaign,
                Level(level),
                capacity,
                season=seasons[campaign],
                complementary_round=None if state is None else RoundState(state),
                place_changes=changes,
            )
            for campaign, level, capacity, state, changes in capacities
        }
        rows = await self.session.execute(
            select(candidate).where(
                tuple_(candidate.c.campaign, candidate.c.level).in_(
                    [(campaign, level.value) for campaign, level in keys]
                ),
                candidate.c.status.in_(PLACED_STATUSES),
            )
        )
        waitlisted: dict[LevelKey, list[tuple[int, str]]] = {key: [] for key in found}
        for row in rows.mappings():
            key = (row["campaign"], Level(row["level"]))
            if row["late_answer"]:
                found[key].late_answers.add(row["application_id"])
            if row["status"] == Status.WAITLISTED.value:
                waitlisted[key].append((row["waitlist_rank"], row["application_id"]))
            else:
                found[key].seats[row["application_id"]] = Seat(
                    row["application_id"],
                    SeatStatus(row["status"]),
                    in_paris(row["offer_deadline"]),
                    row["from_waitlist"],
                    row["two_year_plan"],
                )
        for key, ranked in waitlisted.items():
            found[key].waitlist = [application_id for _, application_id in sorted(ranked)]
        return found

    async def _write(self, aggregates: list[LevelPlaces], stored: set[LevelKey]) -> None:
        """Every place of the saved levels in one statement: who left, who holds a
        seat, who waits and at which rank; then each level's round and changes counted."""
        rows = [row for places in aggregates for row in _place_rows(places)]
        if rows:
            await self.session.execute(_PLACE, rows)
        await self.session.execute(
            _LEVEL,
            [
                {
                    "b_campaign": places.campaign,
                    "b_level": places.level.value,
                    "b_round": places.complementary_round,
                    "b_changes": places.place_changes,
                }
                for places in aggregates
            ],
        )
        for places in aggregates:
            places.left.clear()  # written: not again at the next flush


def _place_rows(places: LevelPlaces) -> Iterable[dict[str, Any]]:
    late = places.late_answers
    for application_id, status in places.left.items():
        yield _place_row(application_id, status, None, late=application_id in late)
    for seat in places.seats.values():
        yield _place_row(
            seat.application_id,
            seat.status.value,
            None,
            seat.offer_deadline,
            seat.from_waitlist,
            late=seat.application_id in late,
            two_year_plan=seat.two_year_plan,
        )
    for rank, application_id in enumerate(places.waitlist, start=1):
        yield _place_row(application_id, Status.WAITLISTED.value, rank, late=application_id in late)


def _place_row(
    application_id: str,
    status: str,
    rank: int | None,
    offer_deadline: datetime | None = None,
    from_waitlist: bool | None = None,
    *,
    late: bool,
    two_year_plan: bool = False,
) -> dict[str, Any]:
    return {
        "b_application_id": application_id,
        "b_status": status,
        "b_waitlist_rank": rank,
        "b_offer_deadline": offer_deadline,
        "b_from_waitlist": from_waitlist,
        "b_late_answer": late,
        "b_two_year_plan": two_year_plan,
    }


def _changed_row(who: Candidate) -> dict[str, Any]:
    return {
        "b_application_id": who.application_id,
        "b_read_version": who.version,
        "b_version": secrets.randbits(63),
        "b_status": who.status.value,
        "b_eligible": who.eligible,
        "b_completed_at": who.completed_at,
        "b_file_score": who.file_score,
        "b_interview_score": who.interview_score,
        "b_interview_by_video": who.interview_by_video,
        "b_interview_notes": who.interview_notes,
        "b_refusal_reason": who.refusal_reason,
    }


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
        "interview_notes": who.interview_notes,
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
        completed_at=in_paris(row["completed_at"]),
        file_score=row["file_score"],
        interview_score=row["interview_score"],
        interview_by_video=row["interview_by_video"],
        interview_notes=row["interview_notes"],
        refusal_reason=row["refusal_reason"],
        offer_deadline=in_paris(row["offer_deadline"]),
        version=row["version"],
    )


class CalendarRepository:
    """The campaign's calendar as this service knows it: the timeline's last
    announcement (`calendar_changed`); before any, the default calendar with the
    phases announced so far. Read once per transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._known: dict[int, tuple[CampaignCalendar, bool]] = {}

    async def calendar(self, campaign: int) -> CampaignCalendar:
        return (await self._read(campaign))[0]

    async def announced(self, campaign: int) -> CampaignCalendar | None:
        calendar, announced = await self._read(campaign)
        return calendar if announced else None

    async def announce(self, campaign: int, phases: list[PhaseWindow]) -> CampaignCalendar:
        """Keep the timeline's new calendar (refused, `InvalidCalendar`, if out of order)."""
        calendar = with_phases(
            default_calendar(campaign), [(p.phase, p.starts_at, p.ends_at) for p in phases]
        ).validate()
        await flush_session(self.session)
        await self.session.execute(
            delete(campaign_phase).where(campaign_phase.c.campaign == campaign)
        )
        if phases:
            await self.session.execute(
                insert(campaign_phase),
                [
                    {
                        "campaign": campaign,
                        "phase": p.phase.value,
                        "starts_at": p.starts_at,
                        "ends_at": p.ends_at,
                    }
                    for p in phases
                ],
            )
        self._known[campaign] = (calendar, True)
        return calendar

    async def claim_phase(self, campaign: int, phase: Phase, at: datetime) -> bool:
        """The phase's work is this transaction's to do: False if it was done before."""
        claimed = await self.session.execute(
            insert(phase_done)
            .values(campaign=campaign, phase=phase.value, done_at=at)
            .on_conflict_do_nothing()
            .returning(phase_done.c.phase)
        )
        return claimed.first() is not None

    async def _read(self, campaign: int) -> tuple[CampaignCalendar, bool]:
        if campaign not in self._known:
            rows = list(
                await self.session.execute(
                    select(
                        campaign_phase.c.phase, campaign_phase.c.starts_at, campaign_phase.c.ends_at
                    ).where(campaign_phase.c.campaign == campaign)
                )
            )
            announced = bool(rows)
            if not announced:
                table = platform_phase_table
                rows = list(
                    await self.session.execute(
                        select(table.c.phase, table.c.starts_at, table.c.ends_at).where(
                            table.c.campaign == campaign
                        )
                    )
                )
            phases = [(Phase(phase), starts, ends) for phase, starts, ends in rows]
            self._known[campaign] = (with_phases(default_calendar(campaign), phases), announced)
        return self._known[campaign]

    def forget(self, campaign: int) -> None:
        """A phase just announced: read the calendar again (before any announcement)."""
        self._known.pop(campaign, None)
