"""Sending what the handlers recorded: each message once, as far as the servers allow.

A batch of due messages is claimed (`FOR UPDATE SKIP LOCKED`, so several dispatchers
never take the same message), sent, and settled in the transaction that stages
`notification.sent` / `notification.failed` through the outbox. The one window
left: a crash (or a lost database) after a server accepted a message and before
that transaction commits sends the messages of that batch again on restart. They
carry the same Message-ID (an SMS the same idempotency key), so a relay, a
mailbox or the gateway can tell they are the same message.

Transient failures are retried with exponential backoff for `retry_for` (24 hours
by default, like a mail relay), then recorded as failed. When a server itself is
unavailable, the rest of the batch on that channel is not tried: it waits for the
same delay, so an outage costs one connection attempt per delay, not one per
message.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta

from ifuno_shared.events.notification import NotificationFailed, NotificationSent
from prometheus_client import Counter

from ifuno_notification.adapters.repository import PendingMessage
from ifuno_notification.adapters.senders import (
    AbstractEmailSender,
    AbstractSmsSender,
    Email,
    PermanentFailure,
    ServerUnavailable,
    TransientFailure,
)
from ifuno_notification.domain.offices import PROGRAMME_EMAIL
from ifuno_notification.service_layer.unit_of_work import NotificationUnitOfWork

log = logging.getLogger(__name__)

RETRY_FOR = timedelta(hours=24)

DELIVERIES = Counter(
    "ifuno_notification_deliveries_total",
    "Delivery attempts committed, by channel and outcome (sent, failed, retry).",
    ["channel", "outcome"],
)


def retry_delay(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s ... then every 5 minutes."""
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
    *,
    batch: int = 50,
    retry_for: timedelta = RETRY_FOR,
) -> int:
    """Send one batch of due messages; return how many were claimed."""
    outcomes: list[tuple[str, str]] = []
    async with uow_factory() as uow, email.connection():
        repository = uow.notifications
        claimed = await repository.claim_due(batch)
        down: dict[str, tuple[str, timedelta]] = {}
        sent: list[PendingMessage] = []
        waiting: dict[str, list[str]] = defaultdict(list)
        for pending in claimed:
            channel = pending.outgoing.channel
            if channel in down:
                error, _ = down[channel]
                if pending.age >= retry_for:
                    await _fail(uow, pending, f"{error} (not sent within {_hours(retry_for)})")
                    outcomes.append((channel, "failed"))
                else:
                    waiting[channel].append(pending.id)
                continue
            try:
                await _deliver(pending, email, sms)
            except PermanentFailure as exc:
                await _fail(uow, pending, str(exc))
                outcomes.append((channel, "failed"))
            except TransientFailure as exc:
                attempts = pending.attempts + 1
                delay = retry_delay(attempts)
                if isinstance(exc, ServerUnavailable):
                    down[channel] = (str(exc), delay)
                if pending.age >= retry_for:
                    await _fail(uow, pending, f"{exc} (after {attempts} attempts)")
                    outcomes.append((channel, "failed"))
                else:
                    await repository.settle(pending.id, "pending", str(exc), delay)
                    log.info("%s message %s will be retried: %s", channel, pending.id, exc)
                    outcomes.append((channel, "retry"))
            else:
                sent.append(pending)
                outcomes.append((channel, "sent"))
        await _succeed(uow, sent)
        for channel, ids in waiting.items():
            await repository.postpone(ids, down[channel][1])
        await uow.commit()
    for channel, outcome in outcomes:
        DELIVERIES.labels(channel, outcome).inc()
    return len(claimed)


def _hours(period: timedelta) -> str:
    return f"{period.total_seconds() / 3600:g} h"


async def _succeed(uow: NotificationUnitOfWork, sent: list[PendingMessage]) -> None:
    await uow.notifications.mark_sent([pending.id for pending in sent])
    for pending in sent:
        outgoing = pending.outgoing
        uow.publish(
            NotificationSent(
                application_id=outgoing.application_id,
                channel=outgoing.channel,
                template=outgoing.template,
                cause_event_id=outgoing.cause_event_id,
            ),
            subject=outgoing.application_id,
        )


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
