"""Sending what the handlers recorded: each message at most once per successful send.

A batch of due messages is claimed (`FOR UPDATE SKIP LOCKED`), sent, and settled
in the same transaction that stages `notification.sent` / `notification.failed`
through the outbox. The one window left: a crash after the SMTP server accepted
a message and before that transaction commits sends it again on restart; the
email then carries the same Message-ID (and an SMS the same idempotency key), so
the receiving side can tell it is the same message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from ifuno_shared.events.notification import NotificationFailed, NotificationSent

from ifuno_notification.adapters.repository import PendingMessage
from ifuno_notification.adapters.senders import (
    AbstractEmailSender,
    AbstractSmsSender,
    Email,
    PermanentFailure,
    TransientFailure,
)
from ifuno_notification.domain.offices import PROGRAMME_EMAIL
from ifuno_notification.service_layer.unit_of_work import NotificationUnitOfWork

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


def retry_delay(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s ... up to 5 minutes between tries."""
    return timedelta(seconds=min(2 ** (attempts - 1), 300))


async def _deliver(
    pending: PendingMessage, email: AbstractEmailSender, sms: AbstractSmsSender
) -> None:
    outgoing = pending.outgoing
    if outgoing.channel == "email":
        await email.send(
            Email(
                message_id=pending.id,
                to=outgoing.address,
                reply_to=PROGRAMME_EMAIL,
                subject=outgoing.subject or "",
                text=outgoing.body_text,
                html=outgoing.body_html,
            )
        )
    else:
        await sms.send(pending.id, outgoing.address, outgoing.body_text)


async def dispatch_due(
    uow_factory: Callable[[], NotificationUnitOfWork],
    email: AbstractEmailSender,
    sms: AbstractSmsSender,
    batch: int = 50,
) -> int:
    """Send one batch of due messages; return how many were tried."""
    async with uow_factory() as uow, email.connection():
        claimed = await uow.notifications.claim_due(batch)
        for pending in claimed:
            outgoing = pending.outgoing
            attempts = pending.attempts + 1
            try:
                await _deliver(pending, email, sms)
            except PermanentFailure as exc:
                await _fail(uow, pending, str(exc))
                continue
            except TransientFailure as exc:
                if attempts >= MAX_ATTEMPTS:
                    await _fail(uow, pending, f"{exc} (after {attempts} attempts)")
                else:
                    await uow.notifications.settle(
                        pending.id, "pending", str(exc), retry_delay(attempts)
                    )
                    log.info("%s message %s will be retried: %s", outgoing.channel, pending.id, exc)
                continue
            await uow.notifications.settle(pending.id, "sent", None, None)
            uow.publish(
                NotificationSent(
                    application_id=outgoing.application_id,
                    channel=outgoing.channel,
                    template=outgoing.template,
                    cause_event_id=outgoing.cause_event_id,
                ),
                subject=outgoing.application_id,
            )
        await uow.commit()
    return len(claimed)


async def _fail(uow: NotificationUnitOfWork, pending: PendingMessage, error: str) -> None:
    outgoing = pending.outgoing
    log.warning("%s message %s failed: %s", outgoing.channel, pending.id, error)
    await uow.notifications.settle(pending.id, "failed", error, None)
    uow.publish(
        NotificationFailed(
            application_id=outgoing.application_id,
            channel=outgoing.channel,
            template=outgoing.template,
            cause_event_id=outgoing.cause_event_id,
            error=error,
        ),
        subject=outgoing.application_id,
    )
