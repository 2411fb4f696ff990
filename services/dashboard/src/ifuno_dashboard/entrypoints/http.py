"""The summary as JSON, a live stream of it (server-sent events), and the staff page."""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, status
from fastapi.responses import FileResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from fastapi.staticfiles import StaticFiles
from ifuno_shared.http import require_role
from ifuno_shared.runtime import ServiceContext

from ifuno_dashboard.adapters.repository import read_erasures
from ifuno_dashboard.service_layer.handlers import ERASING_SERVICES
from ifuno_dashboard.service_layer.summary import build_summary, iso

STATIC = Path(__file__).parent.parent / "static"
STAFF = ("viewer", "reviewer", "committee", "admin")


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
        """The page holds no data: it asks for a staff token, then streams the summary."""
        return FileResponse(STATIC / "index.html")

    router.mount("/static", StaticFiles(directory=STATIC), name="static")
    return router
