"""Applications in PostgreSQL: one aggregate = one `application` row + its documents."""

from __future__ import annotations

import abc
from datetime import datetime

from ifuno_shared.calendar import PARIS
from ifuno_shared.events import Level, Regime, Round
from ifuno_shared.events.candidature import Contact
from ifuno_shared.events.portal import Diploma, Document
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ifuno_candidature.adapters.tables import (
    application,
    complementary_level,
    document,
    round_window,
)
from ifuno_candidature.domain.model import LIVE, Application, FileDocument, Status
from ifuno_candidature.domain.windows import RoundWindow, default_windows, late_from


class AbstractApplicationRepository(abc.ABC):
    @abc.abstractmethod
    async def get(self, application_id: str) -> Application | None:
        """The application, locked until the transaction ends."""

    @abc.abstractmethod
    async def save(self, app: Application) -> None: ...

    @abc.abstractmethod
    async def live_for_candidate(self, candidate_id: str, campaign: int) -> str | None:
        """The id of the candidate's live application in this campaign, if any."""

    @abc.abstractmethod
    async def incomplete_late_in(self, after: datetime | None, until: datetime) -> list[str]:
        """Incomplete applications whose round became late in (after, until]."""

    @abc.abstractmethod
    async def move_deadline(self, campaign: int, round_: Round, deadline: datetime) -> None:
        """The timeline moved a round's deadline: the live files of that round follow it."""

    @abc.abstractmethod
    async def windows(self, campaign: int) -> list[RoundWindow]:
        """The rounds' windows announced by the timeline, else the default calendar's."""

    @abc.abstractmethod
    async def set_window(self, campaign: int, window: RoundWindow) -> None: ...

    @abc.abstractmethod
    async def complementary_open_for(self, campaign: int, level: Level) -> bool: ...

    @abc.abstractmethod
    async def open_complementary(self, campaign: int, level: Level, free_places: int) -> None: ...


class SqlApplicationRepository(AbstractApplicationRepository):
    """One transaction's view. Under a burst a consumer batch holds hundreds of
    submissions: the round windows are read once per transaction, and a new
    application has no documents to delete before its first save."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._windows: dict[int, list[RoundWindow]] = {}
        self._unsaved: set[str] = set()

    async def get(self, application_id: str) -> Application | None:
        row = (
            (
                await self._session.execute(
                    select(application)
                    .where(application.c.application_id == application_id)
                    .with_for_update()
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            self._unsaved.add(application_id)
            return None
        documents = (
            await self._session.execute(
                select(document)
                .where(document.c.application_id == application_id)
                .order_by(document.c.id)
            )
        ).mappings()
        return _to_domain(row, list(documents))

    async def save(self, app: Application) -> None:
        values = _to_row(app)
        statement = insert(application).values(values)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[application.c.application_id],
                set_={k: v for k, v in values.items() if k != "application_id"},
            )
        )
        if app.application_id in self._unsaved:
            self._unsaved.discard(app.application_id)
        else:
            await self._session.execute(
                delete(document).where(document.c.application_id == app.application_id)
            )
        if app.documents:
            await self._session.execute(
                document.insert(),
                [
                    {
                        "application_id": app.application_id,
                        **d.document.model_dump(),
                        "received_at": d.received_at,
                        "problem": d.problem,
                    }
                    for d in app.documents
                ],
            )

    async def live_for_candidate(self, candidate_id: str, campaign: int) -> str | None:
        return (
            await self._session.execute(
                select(application.c.application_id).where(
                    application.c.candidate_id == candidate_id,
                    application.c.campaign == campaign,
                    application.c.status.in_([s.value for s in LIVE]),
                )
            )
        ).scalar()

    async def incomplete_late_in(self, after: datetime | None, until: datetime) -> list[str]:
        query = select(application.c.application_id).where(
            application.c.status == Status.INCOMPLETE.value, application.c.late_from <= until
        )
        if after is not None:
            query = query.where(application.c.late_from > after)
        return list(
            (await self._session.execute(query.order_by(application.c.application_id))).scalars()
        )

    async def move_deadline(self, campaign: int, round_: Round, deadline: datetime) -> None:
        await self._session.execute(
            update(application)
            .where(
                application.c.campaign == campaign,
                application.c.round == round_.value,
                application.c.status.in_([s.value for s in LIVE]),
            )
            .values(submission_deadline=deadline, late_from=late_from(deadline))
        )

    async def windows(self, campaign: int) -> list[RoundWindow]:
        if campaign not in self._windows:
            self._windows[campaign] = await self._read_windows(campaign)
        return self._windows[campaign]

    async def _read_windows(self, campaign: int) -> list[RoundWindow]:
        rows = (
            await self._session.execute(
                select(round_window).where(round_window.c.campaign == campaign)
            )
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
        await self._session.execute(
            insert(round_window)
            .values(campaign=campaign, round=window.round.value, **values)
            .on_conflict_do_update(index_elements=["campaign", "round"], set_=values)
        )

    async def complementary_open_for(self, campaign: int, level: Level) -> bool:
        found = await self._session.execute(
            select(complementary_level.c.free_places).where(
                complementary_level.c.campaign == campaign,
                complementary_level.c.level == level.value,
            )
        )
        return found.first() is not None

    async def open_complementary(self, campaign: int, level: Level, free_places: int) -> None:
        await self._session.execute(
            insert(complementary_level)
            .values(campaign=campaign, level=level.value, free_places=free_places)
            .on_conflict_do_update(
                index_elements=["campaign", "level"], set_={"free_places": free_places}
            )
        )


def _to_row(app: Application) -> dict[str, object]:
    return {
        "application_id": app.application_id,
        "campaign": app.campaign,
        "round": app.round.value if app.round else None,
        "level": app.level.value,
        "regime": app.regime.value,
        "candidate_id": app.candidate.candidate_id,
        "candidate": app.candidate.model_dump(mode="json"),
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


def _paris(instant: datetime | None) -> datetime | None:
    return None if instant is None else instant.astimezone(PARIS)


def _to_domain(row: object, documents: list[object]) -> Application:
    r: dict = dict(row)  # type: ignore[call-overload]
    submitted_at = _paris(r["submitted_at"])
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
        submission_deadline=_paris(r["submission_deadline"]),
        status=Status(r["status"]),
        refusal_reason=r["refusal_reason"],
        eligible=r["eligible"],
        eligibility_reasons=list(r["eligibility_reasons"]),
        eligibility_overridden_by=r["eligibility_overridden_by"],
        completed_at=_paris(r["completed_at"]),
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
                received_at=_paris(d["received_at"]) or submitted_at,
                problem=d["problem"],
            )
            for d in (dict(x) for x in documents)  # type: ignore[call-overload]
        ],
    )
