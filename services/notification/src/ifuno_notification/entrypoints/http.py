"""Staff endpoint: what was sent to an application, on which channel, with what outcome."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from ifuno_shared.http import require_role
from ifuno_shared.runtime import ServiceContext
from pydantic import BaseModel


class DeliveryAttempt(BaseModel):
    at: datetime
    outcome: str
    """sent, failed, or retry (a transient failure, tried again later)."""
    error: str | None


class SentMessage(BaseModel):
    id: str
    """Also the email's Message-ID and the SMS gateway's idempotency key."""
    channel: str
    template: str
    cause_event_id: str
    address: str
    subject: str | None
    status: str
    """pending (not sent yet, or to be retried), sent, or failed."""
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    delivery_attempts: list[DeliveryAttempt]


def build_router(context: ServiceContext) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["messages"])

    @router.get(
        "/applications/{application_id}/messages",
        dependencies=[Depends(require_role("reviewer", "committee", "admin"))],
    )
    async def messages(application_id: str) -> list[SentMessage]:
        """Every message recorded for the application, oldest first (empty if none).

        Not for `viewer`: it holds the candidate's addresses."""
        async with context.uow_factory() as uow:
            rows = await uow.notifications.messages_of(application_id)
        return [SentMessage.model_validate(row) for row in rows]

    return router
