"""The summary as JSON, a live stream of it (server-sent events), the staff page, and
the page's session: it signs in once with a token (in a request body, never in an
address), then authenticates by a signed HttpOnly cookie."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from fastapi.staticfiles import StaticFiles
from ifuno_shared.http import SESSION_COOKIE, RequestBody, Staff, require_role, staff_for
from ifuno_shared.runtime import ServiceContext
from pydantic import BaseModel, Field

from ifuno_dashboard.adapters.repository import read_erasures
from ifuno_dashboard.domain.labels import TABLES
from ifuno_dashboard.service_layer.handlers import ERASING_SERVICES
from ifuno_dashboard.service_layer.summary import build_summary, iso

STATIC = Path(__file__).parent.parent / "static"
STAFF = ("viewer", "reviewer", "committee", "admin")
SIGNED_IN = require_role(*STAFF, session=True)
"""A staff token, or the page's session cookie."""


class SignIn(RequestBody):
    token: Annotated[str, Field(min_length=1, max_length=1000)]


class SignedIn(BaseModel):
    name: str
    role: str


def build_router(context: ServiceContext) -> APIRouter:
    router = APIRouter()
    settings: Any = context.settings

    def campaign_or_default(
        campaign: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    ) -> int:
        """The page and the API may leave the campaign out: IFUNO_CAMPAIGN is the default."""
        found = campaign or settings.campaign
        if found is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "campaign is required")
        return int(found)

    async def summary_of(campaign: int) -> dict[str, Any]:
        async with context.session_factory() as session:
            return await build_summary(
                session, campaign, settings.capacities, context.extras.get("lag", {})
            )

    @router.post("/v1/session", status_code=status.HTTP_204_NO_CONTENT, tags=["session"])
    async def sign_in(body: SignIn, request: Request, response: Response) -> None:
        """Sign the page in: the token in the body, a session cookie back.

        The cookie is HttpOnly, SameSite=Strict, Secure over HTTPS, and lasts 8 hours
        (or until the service restarts); 401 for an unknown token."""
        staff = staff_for(request.app.state.api_tokens, body.token)
        if staff is None or staff.role not in STAFF:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid token")
        sessions = request.app.state.sessions
        response.set_cookie(
            SESSION_COOKIE,
            sessions.issue(staff),
            max_age=sessions.lifetime_seconds,
            path="/",
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )

    @router.get("/v1/session", tags=["session"])
    async def session(staff: Annotated[Staff, Depends(SIGNED_IN)]) -> SignedIn:
        """Who the page is signed in as (401 when it is not)."""
        return SignedIn(name=staff.name, role=staff.role)

    @router.delete("/v1/session", status_code=status.HTTP_204_NO_CONTENT, tags=["session"])
    async def sign_out(response: Response) -> None:
        """Sign the page out: the session cookie is cleared."""
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")

    @router.get("/v1/summary", dependencies=[Depends(SIGNED_IN)], tags=["dashboard"])
    async def summary(campaign: int = Depends(campaign_or_default)) -> dict[str, Any]:
        return await summary_of(campaign)

    @router.get("/v1/labels", dependencies=[Depends(SIGNED_IN)], tags=["dashboard"])
    async def labels() -> dict[str, dict[str, str]]:
        """French words for the summary's codes, by kind.

        Refusal reasons, message templates, channels, outcomes, statuses, phases."""
        return TABLES

    @router.get(
        "/v1/stream",
        response_class=EventSourceResponse,
        dependencies=[Depends(SIGNED_IN)],
        tags=["dashboard"],
    )
    async def stream(
        campaign: int = Depends(campaign_or_default),
    ) -> AsyncIterator[ServerSentEvent]:
        """The summary as server-sent events, at once and whenever it changes.

        Checked every second; FastAPI sends the keep-alive comments and stops this
        generator when the client goes away."""
        last = None
        while True:
            current = await summary_of(campaign)
            if current != last:
                yield ServerSentEvent(event="summary", data=current)
                last = current
            await asyncio.sleep(1.0)

    @router.get("/v1/erasures", dependencies=[Depends(require_role("admin"))], tags=["dashboard"])
    async def erasures(
        application_id: Annotated[str, Query(min_length=1, max_length=64)],
    ) -> dict[str, Any]:
        """Which services confirmed they hold nothing more about this application
        (admin): `complete` once every service that held personal data did."""
        async with context.session_factory() as session:
            confirmed = await read_erasures(session, application_id)
        return {
            "application_id": application_id,
            "confirmed": {service: iso(at) for service, at in sorted(confirmed.items())},
            "waiting_for": [s for s in ERASING_SERVICES if s not in confirmed],
            "complete": all(s in confirmed for s in ERASING_SERVICES),
        }

    @router.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        """The page holds no data: it signs in with a staff token, then streams the summary."""
        return FileResponse(STATIC / "index.html")

    router.mount("/static", StaticFiles(directory=STATIC), name="static")
    return router
