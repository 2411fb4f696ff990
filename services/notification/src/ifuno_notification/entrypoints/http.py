"""Staff endpoints: what was sent to an application, on which channel, with what outcome;
and, for an admin, failed messages queued again."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from ifuno_shared.http import RequestBody, require_role
from ifuno_shared.runtime import ServiceContext
from pydantic import BaseModel, Field


class DeliveryAttempt(BaseModel):
    at: datetime
    outcome: str
    """sent, failed, retry (a transient failure, tried again later), or interrupted
    (its dispatcher stopped before recording the outcome: sent again, the server may
    have had it already)."""
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
    """pending (not sent yet, or to be retried), sending (claimed by a dispatcher),
    sent, or failed."""
    attempts: int
    last_error: str | None
    expired: bool
    """failed because its retry period ran out (not refused): it may be queued again."""
    created_at: datetime
    sent_at: datetime | None
    delivery_attempts: list[DeliveryAttempt]


class Requeue(RequestBody):
    message_ids: Annotated[list[str], Field(min_length=1, max_length=10_000)] | None = None
    """These failed messages, whatever the failure; omitted: every message that
    failed because its retry period ran out (a server down for too long)."""
    channel: Literal["email", "sms"] | None = None
    """Only messages on this channel."""


class Requeued(BaseModel):
    requeued: int
    """Failed messages now due again (ids named that are not failed are left alone)."""


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

    @router.post("/messages/requeue", dependencies=[Depends(require_role("admin"))])
    async def requeue(body: Requeue) -> Requeued:
        """Queue failed messages again, due now and retried for a new period."""
        async with context.uow_factory() as uow:
            ids = await uow.notifications.requeue_failed(body.message_ids, body.channel)
            await uow.commit()
        return Requeued(requeued=len(ids))

    return router
