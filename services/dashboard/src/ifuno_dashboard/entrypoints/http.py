"""The summary as JSON, a live stream of it (server-sent events), and the staff page."""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import AsyncIterator
from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from ifuno_shared.http import require_role
from ifuno_shared.runtime import ServiceContext

from ifuno_dashboard.service_layer.summary import build_summary

STATIC = files("ifuno_dashboard") / "static"
STAFF = ("viewer", "reviewer", "committee", "admin")
TYPES = {"js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8"}


def build_router(context: ServiceContext) -> APIRouter:
    router = APIRouter()
    settings: Any = context.settings

    def campaign_or_default(campaign: int | None) -> int:
        found = campaign or settings.campaign
        if found is None:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "campaign is required")
        return int(found)

    async def summary_of(campaign: int) -> dict[str, Any]:
        async with context.session_factory() as session:
            return await build_summary(
                session, campaign, settings.capacities, context.extras.get("lag", {})
            )

    @router.get("/v1/summary", dependencies=[Depends(require_role(*STAFF))], tags=["dashboard"])
    async def summary(campaign: int | None = None) -> dict[str, Any]:
        return await summary_of(campaign_or_default(campaign))

    @router.get("/v1/stream", tags=["dashboard"])
    async def stream(
        request: Request, token: str = Query(min_length=1), campaign: int | None = None
    ) -> StreamingResponse:
        """EventSource cannot send headers: the token comes as a query parameter."""
        role = next(
            (r for t, r in settings.api_tokens.items() if hmac.compare_digest(t, token)), None
        )
        if role not in STAFF:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "missing or invalid token")
        year = campaign_or_default(campaign)

        async def events() -> AsyncIterator[str]:
            last = None
            while not await request.is_disconnected():
                current = json.dumps(await summary_of(year), sort_keys=True, default=str)
                if current != last:
                    yield f"event: summary\ndata: {current}\n\n"
                    last = current
                else:
                    yield ": keep-alive\n\n"
                await asyncio.sleep(1.0)

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

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
