"""Staff endpoint: what was sent to an application, on which channel, with what outcome."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from ifuno_shared.http import Staff, require_role
from ifuno_shared.runtime import ServiceContext
from pydantic import BaseModel, Field
from sqlalchemy import func, update

from ifuno_notification.adapters.tables import message

log = logging.getLogger(__name__)


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


class Requeue(BaseModel):
    application_id: Annotated[str, Field(min_length=1, max_length=64)]


class Requeued(BaseModel):
    requeued: int


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

    @router.post("/messages/requeue")
    async def requeue(
        body: Requeue, staff: Annotated[Staff, Depends(require_role("admin"))]
    ) -> Requeued:
        """An application's failed messages sent again (admin only).

        Each goes back to pending, due now, its attempts counted afresh; the dispatcher
        sends it once."""
        async with context.session_factory() as session, session.begin():
            result = await session.execute(
                update(message)
                .where(
                    message.c.application_id == body.application_id, message.c.status == "failed"
                )
                .values(status="pending", attempts=0, next_attempt_at=func.now())
            )
        count = int(getattr(result, "rowcount", 0) or 0)
        log.info("%s requeued %d failed message(s) of one application", staff.name, count)
        return Requeued(requeued=count)

    return router
