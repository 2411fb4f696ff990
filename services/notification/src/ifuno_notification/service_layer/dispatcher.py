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
same delay, so an outage costs one connection attempt per delay and connection,
not one per message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
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


@dataclass
class _Attempts:
    """What the lanes of one batch did, settled afterwards on the batch's transaction
    (one session cannot run statements for several lanes at once)."""

    retry_for: timedelta
    sent: list[PendingMessage] = field(default_factory=list)
    failed: list[tuple[PendingMessage, str]] = field(default_factory=list)
    retried: list[tuple[PendingMessage, str, timedelta]] = field(default_factory=list)
    down: dict[str, tuple[str, timedelta]] = field(default_factory=dict)
    waiting: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    async def run(
        self, lane: list[PendingMessage], email: AbstractEmailSender, sms: AbstractSmsSender
    ) -> None:
        for pending in lane:
            channel = pending.outgoing.channel
            if channel in self.down:
                error, _ = self.down[channel]
                if pending.age >= self.retry_for:
                    self.failed.append(
                        (pending, f"{error} (not sent within {_hours(self.retry_for)})")
                    )
                else:
                    self.waiting[channel].append(pending.id)
                continue
            try:
                await _deliver(pending, email, sms)
            except PermanentFailure as exc:
                self.failed.append((pending, str(exc)))
            except TransientFailure as exc:
                attempts = pending.attempts + 1
                delay = retry_delay(attempts)
                if isinstance(exc, ServerUnavailable):
                    self.down[channel] = (str(exc), delay)
                if pending.age >= self.retry_for:
                    self.failed.append((pending, f"{exc} (after {attempts} attempts)"))
                else:
                    self.retried.append((pending, str(exc), delay))
            else:
                self.sent.append(pending)


def _lanes(claimed: list[PendingMessage], count: int) -> list[list[PendingMessage]]:
    """Split a batch for `count` connections; an application's messages stay in one
    lane, in order, so a candidate never reads the second message before the first."""
    lanes: list[list[PendingMessage]] = [[] for _ in range(max(count, 1))]
    lane_of: dict[str, int] = {}
    for pending in claimed:
        application_id = pending.outgoing.application_id
        if application_id not in lane_of:
            lane_of[application_id] = len(lane_of) % len(lanes)
        lanes[lane_of[application_id]].append(pending)
    return [lane for lane in lanes if lane]


async def dispatch_due(
    uow_factory: Callable[[], NotificationUnitOfWork],
    email: AbstractEmailSender,
    sms: AbstractSmsSender,
    *,
    batch: int = 200,
    connections: int = 4,
    retry_for: timedelta = RETRY_FOR,
) -> int:
    """Send one batch of due messages over up to `connections` connections at once
    (sending is mostly waiting for the server's replies); return how many were
    claimed."""
    async with uow_factory() as uow:
        repository = uow.notifications
        claimed = await repository.claim_due(batch)
        attempts = _Attempts(retry_for)
        async with contextlib.AsyncExitStack() as stack:
            lanes = _lanes(claimed, connections)
            senders = [await stack.enter_async_context(email.connection()) for _ in lanes]
            await asyncio.gather(
                *(
                    attempts.run(lane, sender, sms)
                    for lane, sender in zip(lanes, senders, strict=True)
                )
            )
        for pending, error in attempts.failed:
            await _fail(uow, pending, error)
        for pending, error, delay in attempts.retried:
            await repository.settle(pending.id, "pending", error, delay)
            log.info(
                "%s message %s will be retried: %s", pending.outgoing.channel, pending.id, error
            )
        await _succeed(uow, attempts.sent)
        for channel, ids in attempts.waiting.items():
            await repository.postpone(ids, attempts.down[channel][1])
        await uow.commit()
    for pending in attempts.sent:
        DELIVERIES.labels(pending.outgoing.channel, "sent").inc()
    for pending, _ in attempts.failed:
        DELIVERIES.labels(pending.outgoing.channel, "failed").inc()
    for pending, _, _ in attempts.retried:
        DELIVERIES.labels(pending.outgoing.channel, "retry").inc()
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
