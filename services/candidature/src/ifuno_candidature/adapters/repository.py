"""Applications in PostgreSQL: one aggregate = one `application` row + its documents."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from ifuno_shared.calendar import PARIS, in_paris, late_from
from ifuno_shared.events import Level, Regime, Round
from ifuno_shared.events.candidature import Contact
from ifuno_shared.events.portal import Diploma, Document
from ifuno_shared.persistence.repository import TrackingRepository, among, one_of, upsert
from sqlalchemy import (
    ColumnElement,
    String,
    case,
    cast,
    delete,
    exists,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession

from ifuno_candidature.adapters.tables import (
    application,
    complementary_level,
    document,
    erased_application,
    round_window,
)
from ifuno_candidature.domain.model import LIVE, Application, FileDocument, Status
from ifuno_candidature.domain.windows import RoundWindow, default_windows

LIVE_STATUSES = tuple(sorted(s.value for s in LIVE))
"""Written into the SQL (`one_of`): the partial index of live files is on them."""


class ApplicationRepository(Protocol):
    """What the handlers need of the applications (the SQL one; the unit tests' fake)."""

    async def get(self, key: str) -> Application | None:
        """The application, locked until the transaction ends."""

    async def get_many(self, keys: Iterable[str]) -> list[Application]:
        """The stored ones of these applications, locked, read together."""

    async def save(self, aggregate: Application) -> None:
        """Kept as saved; the unit of work publishes the events it raised."""

    async def live_for_candidate(self, candidate_id: str, campaign: int) -> str | None:
        """The id of the candidate's live application in this campaign, if any."""

    async def incomplete_late_in(self, after: datetime | None, until: datetime) -> list[str]:
        """Incomplete applications whose round became late in (after, until]."""

    async def move_deadline(
        self, campaign: int, round_: Round, deadline: datetime
    ) -> list[tuple[str, bool]]:
        """The timeline moved a round's deadline: the live files of that round follow it.
        The files whose deadline changed, each with whether it is complete."""

    async def windows(self, campaign: int) -> list[RoundWindow]:
        """The rounds' windows announced by the timeline, else the default calendar's."""

    async def set_window(self, campaign: int, window: RoundWindow) -> None: ...

    async def complementary_open_for(self, campaign: int, level: Level) -> bool: ...

    async def open_complementary(self, campaign: int, level: Level, free_places: int) -> None: ...

    async def close_complementary(self, campaign: int, level: Level) -> None: ...

    async def erased(self, application_id: str) -> bool:
        """Whether this application was erased (nothing about it is taken in again)."""

    async def erase(
        self, application_ids: list[str], cause: str, at: datetime
    ) -> list[tuple[str, int | None]]:
        """Anonymize these applications and mark them erased; return those not erased
        before, with their campaign (None: never received)."""

    async def campaigns_holding_data(self, up_to: int) -> list[int]:
        """The campaigns up to `up_to` that still hold applications not erased."""

    async def not_erased_in(self, campaign: int, limit: int) -> list[str]:
        """Up to `limit` applications of the campaign not erased yet."""


def _copy(app: Application) -> Application:
    """What a handler may change in place copied (the contact and document details are
    frozen), so a change it does not save stays out of the transaction's view; without
    the events, which the unit of work takes from the object that was saved."""
    return replace(
        app,
        eligibility_reasons=list(app.eligibility_reasons),
        documents=[replace(d) for d in app.documents],
        events=[],
    )


class SqlApplicationRepository(TrackingRepository[str, Application]):
    """One transaction's view. Under a burst a consumer batch holds hundreds of
    submissions: `prefetch` and `prefetch_live` read the batch's applications (locked)
    and its candidates' live files in three statements, and the saved applications are
    written at `flush` in three more. The round windows are read once per transaction."""

    copies = staticmethod(_copy)

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self._windows: dict[int, list[RoundWindow]] = {}
        # The live applications of the candidates a batch submits for, kept up to date.
        self._live: dict[tuple[str, int], set[str]] = {}
        # Whether each application read so far was erased (read ahead for a batch).
        self._erased: dict[str, bool] = {}

    def _key(self, aggregate: Application) -> str:
        return aggregate.application_id

    async def _load(self, keys: list[str]) -> dict[str, Application]:
        """Lock these applications in id order (a stable lock order), with their documents."""
        rows = (
            (
                await self.execute(
                    select(application)
                    .where(among(application.c.application_id, keys), _not_erased())
                    .order_by(application.c.application_id)
                    .with_for_update()
                )
            )
            .mappings()
            .all()
        )
        documents: dict[str, list[object]] = {row["application_id"]: [] for row in rows}
        if documents:
            found = await self.execute(
                select(document)
                .where(among(document.c.application_id, documents))
                .order_by(document.c.id)
            )
            for d in found.mappings():
                documents[d["application_id"]].append(d)
        return {
            row["application_id"]: _to_domain(row, documents[row["application_id"]]) for row in rows
        }

    async def _write(self, aggregates: list[Application], stored: set[str]) -> None:
        """The saved applications in one upsert, their documents replaced in two
        statements. Files no longer live are written first: the one-live-file index
        never sees a candidate's new file before the old one has left."""
        apps = sorted(aggregates, key=lambda app: app.live)
        rows = [_to_row(app) for app in apps]
        await self.session.execute(upsert(application, "application_id", tuple(rows[0])), rows)
        replaced = [app.application_id for app in apps if app.application_id in stored]
        if replaced:
            await self.session.execute(
                delete(document).where(among(document.c.application_id, replaced))
            )
        documents = [
            {
                "application_id": app.application_id,
                **d.document.model_dump(),
                "received_at": d.received_at,
                "problem": d.problem,
            }
            for app in apps
            for d in app.documents
        ]
        if documents:
            await self.session.execute(document.insert(), documents)

    async def prefetch_live(self, candidates: Iterable[tuple[str, int]]) -> None:
        """The live files of a batch's candidates: its duplicate checks then run no
        statement each.

        The campaign is checked here, not in SQL: the plan PostgreSQL keeps for the
        statement is made on the first batch, when the table is empty, and with the
        campaign in it that plan read every live file of the campaign and compared each
        with the batch's candidates (a tenth of a second a batch at 20,000 files). By
        candidate alone the partial index is the only way in."""
        keys = set(candidates) - self._live.keys()
        if not keys:
            return
        rows = await self.execute(
            select(
                application.c.application_id, application.c.candidate_id, application.c.campaign
            ).where(
                among(application.c.candidate_id, {candidate for candidate, _ in keys}),
                one_of(application.c.status, LIVE_STATUSES),
            )
        )
        self._live.update({key: set() for key in keys})
        for row in rows:
            if (key := (row.candidate_id, row.campaign)) in keys:
                self._live[key].add(row.application_id)

    async def save(self, aggregate: Application) -> None:
        await super().save(aggregate)
        live = self._live.get((aggregate.candidate.candidate_id, aggregate.campaign))
        if live is not None:
            if aggregate.live:
                live.add(aggregate.application_id)
            else:
                live.discard(aggregate.application_id)

    async def live_for_candidate(self, candidate_id: str, campaign: int) -> str | None:
        live = self._live.get((candidate_id, campaign))
        if live is not None:
            return min(live, default=None)
        return (
            await self.execute(
                select(application.c.application_id).where(
                    application.c.candidate_id == candidate_id,
                    application.c.campaign == campaign,
                    one_of(application.c.status, LIVE_STATUSES),
                )
            )
        ).scalar()

    async def incomplete_late_in(self, after: datetime | None, until: datetime) -> list[str]:
        query = select(application.c.application_id).where(
            application.c.status == Status.INCOMPLETE.value, application.c.late_from <= until
        )
        if after is not None:
            query = query.where(application.c.late_from > after)
        return list((await self.execute(query.order_by(application.c.application_id))).scalars())

    async def move_deadline(
        self, campaign: int, round_: Round, deadline: datetime
    ) -> list[tuple[str, bool]]:
        """The moved files are forgotten: read again (still locked), they show the move."""
        moved = await self.execute(
            update(application)
            .where(
                application.c.campaign == campaign,
                application.c.round == round_.value,
                one_of(application.c.status, LIVE_STATUSES),
                application.c.submission_deadline.is_distinct_from(deadline),
            )
            .values(submission_deadline=deadline, late_from=late_from(deadline))
            .returning(application.c.application_id, application.c.status)
        )
        self.forget(lambda app: app.campaign == campaign and app.round is round_ and app.live)
        return sorted(
            (row.application_id, row.status == Status.COMPLETE.value) for row in moved.all()
        )

    async def windows(self, campaign: int) -> list[RoundWindow]:
        if campaign not in self._windows:
            self._windows[campaign] = await self._read_windows(campaign)
        return self._windows[campaign]

    async def _read_windows(self, campaign: int) -> list[RoundWindow]:
        rows = (
            await self.execute(select(round_window).where(round_window.c.campaign == campaign))
        ).mappings()
        announced = {
            Round(r["round"]): RoundWindow(
                Round(r["round"]), r["opens_at"].astimezone(PARIS), r["closes_at"].astimezone(PARIS)
            )
            for r in rows
        }
        return [announced.get(w.round, w) for w in default_windows(campaign)]

    async def set_window(self, campaign: int, window: RoundWindow) -> None:
        self._windows.pop(campaign, None)
        values = {"opens_at": window.opens_at, "closes_at": window.closes_at}
        await self.execute(
            insert(round_window)
            .values(campaign=campaign, round=window.round.value, **values)
            .on_conflict_do_update(index_elements=["campaign", "round"], set_=values)
        )

    async def complementary_open_for(self, campaign: int, level: Level) -> bool:
        found = await self.execute(
            select(complementary_level.c.free_places).where(
                complementary_level.c.campaign == campaign,
                complementary_level.c.level == level.value,
            )
        )
        return found.first() is not None

    async def open_complementary(self, campaign: int, level: Level, free_places: int) -> None:
        await self.execute(
            insert(complementary_level)
            .values(campaign=campaign, level=level.value, free_places=free_places)
            .on_conflict_do_update(
                index_elements=["campaign", "level"], set_={"free_places": free_places}
            )
        )

    async def close_complementary(self, campaign: int, level: Level) -> None:
        """A level is open while it has a row: closing removes it (a later opening adds
        it again)."""
        await self.execute(
            delete(complementary_level).where(
                complementary_level.c.campaign == campaign,
                complementary_level.c.level == level.value,
            )
        )

    async def prefetch_erased(self, application_ids: Iterable[str]) -> None:
        """Whether each of these applications was erased, in one statement."""
        wanted = [key for key in dict.fromkeys(application_ids) if key not in self._erased]
        if not wanted:
            return
        found = await self.execute(
            select(erased_application.c.application_id).where(
                among(erased_application.c.application_id, wanted)
            )
        )
        erased = set(found.scalars())
        self._erased |= {key: key in erased for key in wanted}

    async def erased(self, application_id: str) -> bool:
        await self.prefetch_erased([application_id])
        return self._erased[application_id]

    async def erase(
        self, application_ids: list[str], cause: str, at: datetime
    ) -> list[tuple[str, int | None]]:
        """Three statements for any count: the markers (with the campaign, for counts),
        the row kept anonymous (campaign, level, regime, status, dates; a live file ends
        as withdrawn), the documents' metadata deleted. What this transaction read of
        them is read again (and now found erased)."""
        ids = sorted(set(application_ids))
        wanted = select(func.unnest(cast(ids, ARRAY(String))).label("application_id")).subquery()
        marked = await self.execute(
            insert(erased_application)
            .from_select(
                ["application_id", "campaign", "erased_at", "cause"],
                select(
                    wanted.c.application_id,
                    application.c.campaign,
                    literal(at),
                    literal(cause),
                ).select_from(
                    wanted.outerjoin(
                        application, application.c.application_id == wanted.c.application_id
                    )
                ),
            )
            .on_conflict_do_nothing()
            .returning(erased_application.c.application_id, erased_application.c.campaign)
        )
        erased = sorted((row.application_id, row.campaign) for row in marked)
        fresh = [application_id for application_id, _ in erased]
        if fresh:
            await self.execute(
                update(application)
                .where(among(application.c.application_id, fresh))
                .values(
                    candidate_id=literal("erased-") + func.md5(application.c.application_id),
                    candidate={},
                    highest_diploma=None,
                    status=case(
                        (
                            one_of(application.c.status, LIVE_STATUSES),
                            Status.WITHDRAWN.value,
                        ),
                        else_=application.c.status,
                    ),
                )
            )
            await self.execute(delete(document).where(among(document.c.application_id, fresh)))
        gone = set(ids)
        self._erased |= dict.fromkeys(ids, True)
        self.forget(lambda app: app.application_id in gone)
        self._known = {key: known for key, known in self._known.items() if key not in gone}
        return erased

    async def campaigns_holding_data(self, up_to: int) -> list[int]:
        found = await self.execute(
            select(application.c.campaign)
            .where(application.c.campaign <= up_to, _not_erased())
            .distinct()
            .order_by(application.c.campaign)
        )
        return list(found.scalars())

    async def not_erased_in(self, campaign: int, limit: int) -> list[str]:
        found = await self.execute(
            select(application.c.application_id)
            .where(application.c.campaign == campaign, _not_erased())
            .order_by(application.c.application_id)
            .limit(limit)
        )
        return list(found.scalars())


def _not_erased() -> ColumnElement[bool]:
    return ~exists().where(erased_application.c.application_id == application.c.application_id)


def _to_row(app: Application) -> dict[str, object]:
    return {
        "application_id": app.application_id,
        "campaign": app.campaign,
        "round": app.round.value if app.round else None,
        "level": app.level.value,
        "regime": app.regime.value,
        "candidate_id": app.candidate.candidate_id,
        "candidate": {
            **app.candidate.model_dump(mode="json"),
            "phone_as_given": app.phone_as_given,
        },
        "employed": app.employed,
        "highest_diploma": app.highest_diploma.model_dump() if app.highest_diploma else None,
        "vapp": app.vapp,
        "training_experience_years": app.training_experience_years,
        "submitted_at": app.submitted_at,
        "submission_deadline": app.submission_deadline,
        "late_from": app.late_from,
        "status": app.status.value,
        "refusal_reason": app.refusal_reason,
        "eligible": app.eligible,
        "eligibility_reasons": list(app.eligibility_reasons),
        "eligibility_overridden_by": app.eligibility_overridden_by,
        "completed_at": app.completed_at,
    }


def _to_domain(row: object, documents: list[object]) -> Application:
    r: dict = dict(row)  # type: ignore[call-overload]
    submitted_at = in_paris(r["submitted_at"])
    assert submitted_at is not None
    return Application(
        application_id=r["application_id"],
        campaign=r["campaign"],
        level=Level(r["level"]),
        regime=Regime(r["regime"]),
        candidate=Contact.model_validate(r["candidate"]),
        employed=r["employed"],
        highest_diploma=Diploma.model_validate(r["highest_diploma"])
        if r["highest_diploma"]
        else None,
        vapp=r["vapp"],
        training_experience_years=r["training_experience_years"],
        submitted_at=submitted_at,
        round=Round(r["round"]) if r["round"] else None,
        submission_deadline=in_paris(r["submission_deadline"]),
        status=Status(r["status"]),
        refusal_reason=r["refusal_reason"],
        eligible=r["eligible"],
        eligibility_reasons=list(r["eligibility_reasons"]),
        eligibility_overridden_by=r["eligibility_overridden_by"],
        completed_at=in_paris(r["completed_at"]),
        phone_as_given=r["candidate"].get("phone_as_given"),
        documents=[
            FileDocument(
                document=Document(
                    kind=d["kind"],
                    document_id=d["document_id"],
                    filename=d["filename"],
                    content_type=d["content_type"],
                    size_bytes=d["size_bytes"],
                    sha256=d["sha256"],
                ),
                received_at=in_paris(d["received_at"]) or submitted_at,
                problem=d["problem"],
            )
            for d in (dict(x) for x in documents)  # type: ignore[call-overload]
        ],
    )
