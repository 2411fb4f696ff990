"""Staff API (CONTRACTS.md): applications, file reviews, interview results, rankings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, status
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import Level
from ifuno_shared.http import require_role
from ifuno_shared.runtime import ServiceContext
from pydantic import BaseModel, Field

from ifuno_selection.adapters.views import list_candidates, ranking, unfinished
from ifuno_selection.domain.candidate import Status
from ifuno_selection.service_layer import handlers

Criterion = Annotated[int, Field(ge=0, le=5)]


class Scores(BaseModel):
    training_involvement: Criterion
    digital_practice: Criterion
    project: Criterion
    study_capacity: Criterion


class FileReview(BaseModel):
    reviewer: Annotated[str, Field(min_length=1, max_length=200)]
    scores: Scores
    interview_by_video: bool = False


class InterviewResult(BaseModel):
    attended: bool
    score: Annotated[float, Field(ge=0, le=20)] | None = None


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
    any_staff = Depends(require_role("viewer", "reviewer", "committee", "admin"))

    @router.get("/applications", dependencies=[any_staff])
    async def applications(
        campaign: int | None = None, level: Level | None = None, status: Status | None = None
    ) -> list[dict[str, Any]]:
        async with context.session_factory() as session:
            return await list_candidates(
                session, campaign, level.value if level else None, status.value if status else None
            )

    @router.get(
        "/applications/unfinished",
        dependencies=[Depends(require_role("reviewer", "committee", "admin"))],
    )
    async def unfinished_files(
        campaign: int | None = None, level: Level | None = None
    ) -> list[dict[str, Any]]:
        """Files the committee would refuse as they stand (not reviewed or interviewed).

        Each with `committee_at` and `refused_as` (`not_ranked_in_time`, or `ineligible`
        for a failed prerequisite check staff did not override)."""
        async with context.session_factory() as session:
            return await unfinished(session, campaign, level.value if level else None)

    @router.post(
        "/applications/{application_id}/file-review",
        dependencies=[Depends(require_role("reviewer", "admin"))],
    )
    async def file_review(application_id: str, body: FileReview) -> Decision:
        """404 for an unknown application, 409 when the file is not in review."""
        who = await handlers.file_review(
            context.uow_factory(),
            application_id,
            body.reviewer,
            body.scores.model_dump(),
            body.interview_by_video,
            datetime.now(PARIS),
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
            context.uow_factory(), application_id, body.attended, body.score
        )
        return _decision(who)

    @router.get(
        "/rankings/{campaign}/{level}",
        dependencies=[Depends(require_role("committee", "admin", "viewer"))],
    )
    async def rankings(campaign: int, level: Level) -> list[dict[str, Any]]:
        async with context.session_factory() as session:
            return await ranking(session, campaign, level.value)

    return router
