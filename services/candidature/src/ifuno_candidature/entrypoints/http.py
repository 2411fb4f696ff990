"""Staff endpoints: read the applications, override a failed prerequisite check."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, status
from ifuno_shared.events import Level
from ifuno_shared.events.base import SingleLine
from ifuno_shared.http import RequestBody, Staff, require_role
from ifuno_shared.runtime import ServiceContext
from pydantic import BaseModel, Field

from ifuno_candidature.adapters.views import application_details, list_applications
from ifuno_candidature.domain.model import Status
from ifuno_candidature.service_layer import handlers

FILE_READERS = require_role("reviewer", "committee", "admin")
"""Not `viewer`: a viewer (the dashboard) sees counts only, never a candidate's file."""
DECIDERS = require_role("committee", "admin")
ADMIN = require_role("admin")


class ApplicationSummary(BaseModel):
    application_id: str
    campaign: int
    round: str | None
    level: Level
    regime: str
    status: Status
    refusal_reason: str | None
    eligible: bool
    eligibility_reasons: list[str]
    submitted_at: datetime
    completed_at: datetime | None
    phone_unusable: bool
    """The number given cannot be texted: no SMS reaches this candidate."""


class EligibilityOverride(RequestBody):
    eligible: bool
    by: Annotated[
        str | None,
        Field(
            max_length=200,
            deprecated=True,
            description="Ignored: the override is recorded under the caller's token name.",
        ),
    ] = None
    note: Annotated[str, Field(max_length=2000)] | None = None


class NameSearch(RequestBody):
    name: Annotated[str, Field(min_length=2, max_length=100), SingleLine]
    """Part of a first or last name, any case; no control character (422)."""
    limit: Annotated[int, Field(ge=1, le=1000)] = 200


class ErasureOut(BaseModel):
    application_id: str
    erased_now: bool
    """False: it had been erased before (nothing left to erase)."""


class EligibilityOut(BaseModel):
    application_id: str
    eligible: bool
    eligibility_reasons: list[str]
    eligibility_overridden_by: str | None


ApplicationIdPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
]
"""An application id in a path: printable, as the portal's ids are (else 422)."""


def build_router(context: ServiceContext) -> APIRouter:
    router = APIRouter(prefix="/v1/applications", tags=["applications"])

    @router.get("", dependencies=[Depends(FILE_READERS)])
    async def applications(
        campaign: Annotated[int | None, Query(ge=2000, le=2100)] = None,
        level: Level | None = None,
        status_: Annotated[Status | None, Query(alias="status")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
        name: Annotated[str | None, Query(min_length=2, max_length=100), SingleLine] = None,
    ) -> list[ApplicationSummary]:
        """`name`: part of a first or last name, any case, no control character (staff search).

        A control character is refused with 422, before the database (which takes no NUL)."""
        async with context.session_factory() as session:
            rows = await list_applications(
                session,
                campaign,
                level.value if level else None,
                status_.value if status_ else None,
                limit,
                offset,
                name,
            )
        return [ApplicationSummary.model_validate(row) for row in rows]

    @router.post("/search", dependencies=[Depends(FILE_READERS)])
    async def search(body: NameSearch) -> list[ApplicationSummary]:
        """Applications by part of a first or last name, any case (staff search). The
        name travels in the body: in a URL (`GET ?name=`), clients, proxies and servers
        may log it."""
        async with context.session_factory() as session:
            rows = await list_applications(session, None, None, None, body.limit, 0, body.name)
        return [ApplicationSummary.model_validate(row) for row in rows]

    @router.get("/{application_id}", dependencies=[Depends(FILE_READERS)])
    async def application(application_id: str) -> dict[str, Any]:
        """The whole file, contact details included (staff only; never logged).

        The phone is in E.164, or null with `phone_unusable` and `phone_as_given`."""
        async with context.session_factory() as session:
            found = await application_details(session, application_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no application {application_id}")
        return found

    @router.post("/{application_id}/eligibility-override")
    async def override(
        application_id: str,
        body: EligibilityOverride,
        staff: Annotated[Staff, Depends(DECIDERS)],
    ) -> EligibilityOut:
        """Override the eligibility, under the caller's token name (never a body field).

        404 for an unknown application, 409 once it is refused or withdrawn."""
        app = await handlers.override_eligibility(
            context.uow_factory(), application_id, body.eligible, staff.name, body.note
        )
        return EligibilityOut(
            application_id=app.application_id,
            eligible=app.eligible,
            eligibility_reasons=app.eligibility_reasons,
            eligibility_overridden_by=app.eligibility_overridden_by,
        )

    @router.post("/{application_id}/erasure", dependencies=[Depends(ADMIN)])
    async def erasure(application_id: ApplicationIdPath) -> ErasureOut:
        """Erase the application's personal data everywhere (admin): candidature at once,
        the other services on `application_erased`; see `GET /v1/erasures` on the
        dashboard for their confirmations. Repeating it is harmless."""
        erased_now = await handlers.request_erasure(context.uow_factory(), application_id)
        return ErasureOut(application_id=application_id, erased_now=erased_now)

    return router
