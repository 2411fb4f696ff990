"""The summary as JSON, a live stream of it (server-sent events), and the staff page."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import HTMLResponse, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from ifuno_shared.http import require_role
from ifuno_shared.runtime import ServiceContext

from ifuno_dashboard.service_layer.summary import build_summary

STATIC = files("ifuno_dashboard") / "static"
STAFF = ("viewer", "reviewer", "committee", "admin")
TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}


def build_router(context: ServiceContext) -> APIRouter:
    router = APIRouter()
    settings: Any = context.settings

    def campaign_or_default(campaign: int | None = None) -> int:
        """The page and the API may leave the campaign out: IFUNO_CAMPAIGN is the default."""
        found = campaign or settings.campaign
        if found is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "campaign is required")
        return int(found)

    def staff_token(token: Annotated[str, Query(min_length=1)]) -> None:
        """EventSource cannot send headers: the stream's token comes as a query parameter."""
        role = next(
            (r for t, r in settings.api_tokens.items() if hmac.compare_digest(t, token)), None
        )
        if role not in STAFF:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid token")

    async def summary_of(campaign: int) -> dict[str, Any]:
        async with context.session_factory() as session:
            return await build_summary(
                session, campaign, settings.capacities, context.extras.get("lag", {})
            )

    @router.get("/v1/summary", dependencies=[Depends(require_role(*STAFF))], tags=["dashboard"])
    async def summary(campaign: int = Depends(campaign_or_default)) -> dict[str, Any]:
        return await summary_of(campaign)

    @router.get(
        "/v1/stream",
        response_class=EventSourceResponse,
        dependencies=[Depends(staff_token)],
        tags=["dashboard"],
    )
    async def stream(
        campaign: int = Depends(campaign_or_default),
    ) -> AsyncIterator[ServerSentEvent]:
        """A `summary` event at once, then whenever the summary changes (checked every
        second). FastAPI sends the keep-alive comments and stops this generator when
        the client goes away."""
        last = None
        while True:
            current = await summary_of(campaign)
            if current != last:
                yield ServerSentEvent(event="summary", data=current)
                last = current
            await asyncio.sleep(1.0)

    @router.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        """The page holds no data: it asks for a staff token, then streams the summary."""
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        return HTMLResponse(html.replace("{{campaign}}", str(settings.campaign or "")))

    @router.get("/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        suffix = name.rsplit(".", 1)[-1]
        if suffix not in TYPES or "/" in name or not (STATIC / name).is_file():
            raise HTTPException(status.HTTP_404_NOT_FOUND)
        return Response((STATIC / name).read_bytes(), media_type=TYPES[suffix])

    return router
