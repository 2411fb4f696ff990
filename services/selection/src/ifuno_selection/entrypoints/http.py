"""Staff API (CONTRACTS.md): applications, file reviews, interview results, rankings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import Level
from ifuno_shared.events.base import MultiLine
from ifuno_shared.http import RequestBody, Staff, require_role
from ifuno_shared.runtime import ServiceContext
from pydantic import BaseModel, Field

from ifuno_selection.adapters.views import (
    interviews,
    list_candidates,
    notes,
    ranking,
    review_queue,
    unfinished,
)
from ifuno_selection.domain.candidate import Status
from ifuno_selection.service_layer import handlers

Criterion = Annotated[int, Field(ge=0, le=5)]
NOTE_MAX_LENGTH = 2000
Note = Annotated[
    str,
    Field(
        max_length=NOTE_MAX_LENGTH,
        description="Staff's free text: tabs and line breaks, no other control character. "
        "Personal data: kept by selection for reviewers, committee and admins, in no event.",
    ),
    MultiLine,
]


class Scores(RequestBody):
    training_involvement: Criterion
    digital_practice: Criterion
    project: Criterion
    study_capacity: Criterion


class FileReview(RequestBody):
    reviewer: Annotated[
        str | None,
        Field(
            max_length=200,
            deprecated=True,
            description="Ignored: the review is recorded under the caller's token name.",
        ),
    ] = None
    scores: Scores
    interview_by_video: bool = False
    note: Note | None = None


class InterviewResult(RequestBody):
    attended: bool
    score: Annotated[float, Field(ge=0, le=20)] | None = None
    notes: Note | None = None


class Decision(BaseModel):
    application_id: str
    status: Status
    file_score: float | None
    interview_score: float | None
    refusal_reason: str | None


def _decision(who: Any) -> Decision:
    return Decision(
        application_id=who.application_id,
        status=who.status,
        file_score=who.file_score,
        interview_score=who.interview_score,
        refusal_reason=who.refusal_reason,
    )


def build_router(context: ServiceContext) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["selection"])
    # Not `viewer`: a viewer (the dashboard) sees counts only, never a named person's scores.
    file_readers = Depends(require_role("reviewer", "committee", "admin"))

    @router.get("/applications", dependencies=[file_readers])
    async def applications(
        campaign: Annotated[int | None, Query(ge=2000, le=2100)] = None,
        level: Level | None = None,
        status: Status | None = None,
    ) -> list[dict[str, Any]]:
        async with context.session_factory() as session:
            return await list_candidates(
                session, campaign, level.value if level else None, status.value if status else None
            )

    @router.get("/applications/unfinished", dependencies=[file_readers])
    async def unfinished_files(
        campaign: Annotated[int | None, Query(ge=2000, le=2100)] = None,
        level: Level | None = None,
    ) -> list[dict[str, Any]]:
        """Files the committee would refuse as they stand (not reviewed or interviewed).

        Each with `committee_at` and `refused_as` (`not_ranked_in_time`, or `ineligible`
        for a failed prerequisite check staff did not override)."""
        async with context.session_factory() as session:
            return await unfinished(session, campaign, level.value if level else None)

    @router.get("/applications/{application_id}/notes", dependencies=[file_readers])
    async def staff_notes(application_id: str) -> dict[str, Any]:
        """Staff's notes on a file, the reviewers' and the interview's.

        `review_notes` (reviewer, date, note) and `interview_notes`; 404 for an unknown
        file."""
        async with context.session_factory() as session:
            found = await notes(session, application_id)
        if found is None:
            raise handlers.UnknownApplication(f"no application {application_id}")
        return found

    @router.post("/applications/{application_id}/file-review")
    async def file_review(
        application_id: str,
        body: FileReview,
        staff: Annotated[Staff, Depends(require_role("reviewer", "admin"))],
    ) -> Decision:
        """Score a file, under the caller's token name (never a body field).

        A second review under the same name replaces the first; 404 for an unknown
        application, 409 when the file is not in review."""
        who = await handlers.file_review(
            context.uow_factory(),
            application_id,
            staff.name,
            body.scores.model_dump(),
            body.interview_by_video,
            datetime.now(PARIS),
            body.note or None,
        )
        return _decision(who)

    @router.post(
        "/applications/{application_id}/interview-result",
        dependencies=[Depends(require_role("reviewer", "committee", "admin"))],
    )
    async def interview_result(application_id: str, body: InterviewResult) -> Decision:
        if body.attended and body.score is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                [{"loc": ["body", "score"], "msg": "required when attended", "type": "missing"}],
            )
        who = await handlers.interview_result(
            context.uow_factory(), application_id, body.attended, body.score, body.notes or None
        )
        return _decision(who)

    @router.get(
        "/rankings/{campaign}/{level}",
        dependencies=[Depends(require_role("committee", "admin"))],
    )
    async def rankings(
        campaign: Annotated[int, Path(ge=2000, le=2100)], level: Level
    ) -> list[dict[str, Any]]:
        async with context.session_factory() as session:
            return await ranking(session, campaign, level.value)

    @router.get("/rules", dependencies=[file_readers])
    async def rules() -> dict[str, Any]:
        """The thresholds, the reviews a file needs, and each level's capacity."""
        settings: Any = context.settings
        return {
            "reviews_required": settings.reviews_required,
            "shortlist_threshold": settings.shortlist_threshold,
            "admission_threshold": settings.admission_threshold,
            "waitlist_threshold": settings.waitlist_threshold,
            "capacities": {level.value: n for level, n in settings.capacities.items()},
        }

    @router.get("/review-queue", dependencies=[file_readers])
    async def queue(
        campaign: Annotated[int, Query(ge=2000, le=2100)], level: Level | None = None
    ) -> list[dict[str, Any]]:
        """Files in review, the file completed first, with the names of their reviewers."""
        async with context.session_factory() as session:
            return await review_queue(session, campaign, level.value if level else None)

    @router.get("/interviews", dependencies=[file_readers])
    async def schedule(
        campaign: Annotated[int, Query(ge=2000, le=2100)], level: Level | None = None
    ) -> list[dict[str, Any]]:
        """The interview slots in time order: place or video, the file's status and score."""
        async with context.session_factory() as session:
            return await interviews(session, campaign, level.value if level else None)

    return router
