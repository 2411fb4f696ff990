"""Sending what the handlers recorded: each message once, as far as the servers allow.

No transaction stays open while a server is talked to:
1. **Claim** (a short transaction): due messages, and messages whose claim lapsed,
   become `sending` under a new claim token, with a lease (`FOR UPDATE SKIP LOCKED`:
   several dispatchers never take the same message).
2. **Send** over up to `connections` connections at once, each application's messages
   on one connection, in order.
3. **Settle** each outcome as soon as it is known, with its attempt and its
   `notification.sent` / `notification.failed` event in the outbox. Writes are grouped
   (one write at a time; it waits a few milliseconds for the connections still
   sending, and takes every outcome recorded meanwhile). While the acceptance of a
   connection's message is being committed, the connection begins its next one (its
   envelope, up to the server's 354); it ends it (the content and the final dot, when
   the server takes it) only once that commit is done.

What a crash can send twice: the message each connection has had accepted and whose
acceptance is not committed yet, so at most one per connection (`connections`). It
stays `sending` until its lease lapses, then goes out again with the same Message-ID
(an SMS with the same idempotency key). A lost database connection during a settle
is retried until the lease lapses, so a database blip sends nothing twice. Stopping
(`stopping` set: the service's SIGTERM) lets each connection finish and settle the
message it is sending and releases the rest of the claim: nothing is sent twice.
A claim starts no send once half its lease has passed (a slow server): what is left
is released, so no send outlives the lease (a send gives up after 10 s; the lease
is 5 minutes) and none overlaps another dispatcher's.

Transient failures are retried with exponential backoff for `retry_for` (24 hours
by default, like a mail relay), then recorded as failed (`expired`: an admin may
queue them again). When a server itself is unavailable, the rest of the claim on
that channel is not tried: it waits for the same delay, so an outage costs one
connection attempt per delay and connection, not one per message. An unexpected
error while sending one message fails that message's attempt only (retried with
the same backoff); the others go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar

from ifuno_shared.events import new_event
from ifuno_shared.events.notification import NotificationFailed, NotificationSent
from prometheus_client import Counter
from sqlalchemy.exc import SQLAlchemyError

from ifuno_notification.adapters.repository import Claim, PendingMessage, Settlement
from ifuno_notification.adapters.senders import (
    AbstractEmailSender,
    AbstractSmsSender,
    Begun,
    Email,
    PermanentFailure,
    ServerUnavailable,
    TransientFailure,
)
from ifuno_notification.domain.offices import PROGRAMME_EMAIL
from ifuno_notification.service_layer.unit_of_work import NotificationUnitOfWork

log = logging.getLogger(__name__)

RETRY_FOR = timedelta(hours=24)
LEASE = timedelta(minutes=5)
LINGER = 0.005
"""Seconds a write waits for the connections still sending (see `_Settler._linger`)."""
STOPPING_SETTLE_TIMEOUT = 5.0
"""Seconds a stopping dispatcher keeps trying to record its outcomes (database down)."""

DELIVERIES = Counter(
    "ifuno_notification_deliveries_total",
    "Delivery attempts committed, by channel and outcome (sent, failed, retry).",
    ["channel", "outcome"],
)

UowFactory = Callable[[], NotificationUnitOfWork]
T = TypeVar("T")


def retry_delay(attempts: int) -> timedelta:
    """1 s, 2 s, 4 s ... then every 5 minutes."""
    return timedelta(seconds=min(2 ** (attempts - 1), 300))


async def _begin(
    pending: PendingMessage, email: AbstractEmailSender, sms: AbstractSmsSender
) -> Begun:
    outgoing = pending.outgoing
    if outgoing.channel == "email":
        return await email.begin(
            Email(
                message_id=pending.id,
                to=outgoing.address,
                reply_to=PROGRAMME_EMAIL,
                subject=outgoing.subject or "",
                text=outgoing.body_text,
                html=outgoing.body_html,
            )
        )
    return Begun(functools.partial(sms.send, pending.id, outgoing.address, outgoing.body_text))


class _Settler:
    """Records outcomes as they come, one write at a time: those recorded while a write
    is under way go together in the next one (a group commit)."""

    def __init__(
        self, uow_factory: UowFactory, claim: str, stopping: asyncio.Event, until: float
    ) -> None:
        self._uow_factory = uow_factory
        self._claim = claim
        self._stopping = stopping
        self._until = until
        self._queue: list[tuple[PendingMessage, Settlement, asyncio.Future[None] | None]] = []
        self._writer: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()
        self.sending = 0
        """Lanes waiting for the server to take a message: a write waits a little for
        them."""
        self.error: Exception | None = None

    def record(self, pending: PendingMessage, settlement: Settlement) -> None:
        self._enqueue(pending, settlement, None)

    def record_committed(
        self, pending: PendingMessage, settlement: Settlement
    ) -> asyncio.Future[None]:
        """Done once the outcome is committed (its exception if it could not be)."""
        committed = asyncio.get_running_loop().create_future()
        self._enqueue(pending, settlement, committed)
        return committed

    def _enqueue(
        self,
        pending: PendingMessage,
        settlement: Settlement,
        committed: asyncio.Future[None] | None,
    ) -> None:
        self._queue.append((pending, settlement, committed))
        self._arrived.set()
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_queued())

    async def close(self) -> None:
        """Wait for every outcome recorded to be written; raise the first write error."""
        while self._writer is not None:
            await self._writer
        if self.error is not None:
            raise self.error

    async def _write_queued(self) -> None:
        try:
            while self._queue:
                await self._linger()
                group, self._queue = self._queue, []
                try:
                    await self._write_retrying(group)
                except Exception as exc:
                    self.error = self.error or exc
                    for _, _, committed in group:
                        if committed is not None and not committed.done():
                            committed.set_exception(exc)
                else:
                    for _, _, committed in group:
                        if committed is not None and not committed.done():  # not cancelled
                            committed.set_result(None)
        finally:
            self._writer = None

    async def _linger(self) -> None:
        """Wait, up to `LINGER` seconds, for the lanes still sending: then one write
        records an acceptance of each connection (a write costs far more CPU than the
        wait, and a connection waits for its write anyway)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(LINGER):
                while self.sending:
                    self._arrived.clear()
                    await self._arrived.wait()

    async def _write_retrying(
        self, group: list[tuple[PendingMessage, Settlement, asyncio.Future[None] | None]]
    ) -> None:
        """A lost connection or a database restart: try again while the claim holds
        (retrying is safe: a message already recorded is not recorded twice)."""
        delay = 0.05
        stop_by: float | None = None
        unwritten = [(pending, settlement) for pending, settlement, _ in group]
        while True:
            try:
                await self._write(unwritten)
                return
            except (SQLAlchemyError, OSError) as exc:
                now = time.monotonic()
                if self._stopping.is_set() and stop_by is None:
                    stop_by = now + STOPPING_SETTLE_TIMEOUT
                if now + delay > min(self._until, stop_by or self._until):
                    raise
                log.warning(
                    "recording %d outcomes failed (%s): trying again",
                    len(group),
                    type(exc).__name__,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _write(self, unwritten: list[tuple[PendingMessage, Settlement]]) -> None:
        """Acceptances, the common case, in writes of their own (`record_sent`), the other
        outcomes in units of work; in the order they came (each event after the ones
        before it). What is written leaves `unwritten` (a retry writes only the rest)."""
        while unwritten:
            accepted = unwritten[0][1].status == "sent"
            count = next(
                (n for n, (_, s) in enumerate(unwritten) if (s.status == "sent") != accepted),
                len(unwritten),
            )
            outcomes = unwritten[:count]
            if accepted:
                events = [
                    (p.id, new_event(_sent(p), subject=p.outgoing.application_id))
                    for p, _ in outcomes
                ]
                recorded = set(await self._uow_factory().record_sent(self._claim, events))
            else:
                async with self._uow_factory() as uow:
                    recorded = set(
                        await uow.notifications.settle(self._claim, [s for _, s in outcomes])
                    )
                    for pending, settlement in outcomes:
                        if pending.id in recorded:
                            _announce(uow, pending, settlement)
                    await uow.commit()
            del unwritten[:count]
            for pending, settlement in outcomes:
                if pending.id not in recorded:
                    log.warning(
                        "message %s was claimed again before its outcome was recorded",
                        pending.id,
                    )
                elif settlement.attempted:
                    outcome = "retry" if settlement.status == "pending" else settlement.status
                    DELIVERIES.labels(pending.outgoing.channel, outcome).inc()


def _sent(pending: PendingMessage) -> NotificationSent:
    outgoing = pending.outgoing
    return NotificationSent(
        application_id=outgoing.application_id,
        channel=outgoing.channel,
        template=outgoing.template,
        cause_event_id=outgoing.cause_event_id,
    )


def _announce(uow: NotificationUnitOfWork, pending: PendingMessage, settlement: Settlement) -> None:
    """A failure's event (an acceptance's goes with `record_sent`)."""
    outgoing = pending.outgoing
    if settlement.status == "failed":
        uow.publish(
            NotificationFailed(
                application_id=outgoing.application_id,
                channel=outgoing.channel,
                template=outgoing.template,
                cause_event_id=outgoing.cause_event_id,
                error=settlement.error or "",
            ),
            subject=outgoing.application_id,
        )


@dataclass
class _Round:
    """Sending one claim: its lanes share what they learn of the servers."""

    settler: _Settler
    sms: AbstractSmsSender
    retry_for: timedelta
    stopping: asyncio.Event
    send_until: float
    down: dict[str, tuple[str, timedelta]] = field(default_factory=dict)

    async def run(self, lane: list[PendingMessage], email: AbstractEmailSender) -> None:
        """Send a lane's messages in order. Each message is begun (its envelope) while
        the previous acceptance is being recorded, and ended (content and final dot) only
        once it is committed: never two accepted and unrecorded per connection."""
        recording: asyncio.Future[None] | None = None
        for index, pending in enumerate(lane):
            if self.stopping.is_set() or time.monotonic() >= self.send_until:
                for rest in lane[index:]:
                    self.settler.record(rest, Settlement(rest.id, "pending", attempted=False))
                break
            settlement = await self._send(pending, email, recording)
            if settlement.status == "sent":
                recording = self.settler.record_committed(pending, settlement)
            else:
                self.settler.record(pending, settlement)
        if recording is not None:
            await recording

    async def _send(
        self,
        pending: PendingMessage,
        email: AbstractEmailSender,
        recording: asyncio.Future[None] | None,
    ) -> Settlement:
        channel = pending.outgoing.channel
        if channel in self.down:
            error, delay = self.down[channel]
            if pending.age >= self.retry_for:
                return self._failed(pending, f"{error} (not sent within {_hours(self.retry_for)})")
            return Settlement(pending.id, "pending", retry_in=delay, attempted=False)
        begun = await self._attempt(pending, _begin(pending, email, self.sms))
        if isinstance(begun, Settlement):
            return begun
        if recording is not None:
            try:
                await recording  # the crash window: the previous one accepted, not recorded
            except BaseException:
                begun.abandon()  # not recorded: this one is not sent
                raise
            if time.monotonic() >= self.send_until:
                # The wait took what was left of the claim: this one is released, unsent.
                begun.abandon()
                return Settlement(pending.id, "pending", attempted=False)
        self.settler.sending += 1
        try:
            return await self._attempt(pending, begun.end()) or Settlement(pending.id, "sent")
        finally:
            self.settler.sending -= 1

    async def _attempt(self, pending: PendingMessage, step: Awaitable[T]) -> T | Settlement:
        """The step's result, or the settlement its failure makes."""
        try:
            return await step
        except PermanentFailure as exc:
            return self._failed(pending, str(exc), expired=False)
        except TransientFailure as exc:
            if isinstance(exc, ServerUnavailable):
                self.down[pending.outgoing.channel] = (str(exc), retry_delay(pending.attempts + 1))
            return self._retried(pending, str(exc))
        except Exception as exc:
            # Ours or a library's, on this message: its attempt fails, and only its own.
            return self._retried(pending, f"unexpected error: {type(exc).__name__}")

    def _retried(self, pending: PendingMessage, error: str) -> Settlement:
        attempts = pending.attempts + 1
        if pending.age >= self.retry_for:
            return self._failed(pending, f"{error} (after {attempts} attempts)")
        log.info("%s message %s will be retried: %s", pending.outgoing.channel, pending.id, error)
        return Settlement(pending.id, "pending", error, retry_in=retry_delay(attempts))

    def _failed(self, pending: PendingMessage, error: str, *, expired: bool = True) -> Settlement:
        log.warning("%s message %s failed: %s", pending.outgoing.channel, pending.id, error)
        return Settlement(pending.id, "failed", error, expired=expired)


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
    uow_factory: UowFactory,
    email: AbstractEmailSender,
    sms: AbstractSmsSender,
    *,
    batch: int = 200,
    connections: int = 8,
    retry_for: timedelta = RETRY_FOR,
    lease: timedelta = LEASE,
    stopping: asyncio.Event | None = None,
) -> int:
    """Claim up to `batch` due messages, send them over up to `connections`
    connections at once (sending is mostly waiting for the server's replies) and
    record each outcome as it comes; return how many were claimed."""
    stopping = stopping or asyncio.Event()
    claimed_at = time.monotonic()
    async with uow_factory() as uow:
        claim: Claim = await uow.notifications.claim_due(batch, lease)
        await uow.commit()
    if not claim.messages:
        return 0
    seconds = lease.total_seconds()
    settler = _Settler(uow_factory, claim.token, stopping, claimed_at + seconds)
    sending = _Round(settler, sms, retry_for, stopping, claimed_at + seconds / 2)
    lanes = _lanes(claim.messages, connections)
    async with contextlib.AsyncExitStack() as stack:
        senders = [await stack.enter_async_context(email.connection()) for _ in lanes]
        outcomes = await asyncio.gather(
            *(sending.run(lane, sender) for lane, sender in zip(lanes, senders, strict=True)),
            return_exceptions=True,
        )
    await settler.close()
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return len(claim.messages)


async def run_dispatcher(
    uow_factory: UowFactory,
    email: AbstractEmailSender,
    sms: AbstractSmsSender,
    *,
    interval: float = 0.2,
    batch: int = 200,
    connections: int = 8,
    retry_for: timedelta = RETRY_FOR,
    lease: timedelta = LEASE,
    wake: asyncio.Event | None = None,
) -> None:
    """Dispatch until cancelled. Cancelled (the service stopping), it lets the round
    under way finish the messages being sent and record them, then stops. A failing
    database only delays messages: tried again after a growing pause. With nothing
    due it waits `interval`, or less when `wake` is set (messages queued here); the
    interval still finds retries come due and messages queued by other instances."""
    stopping = asyncio.Event()
    wake = wake or asyncio.Event()
    failures = 0
    while True:
        wake.clear()  # what is queued from now on is either claimed below or rings again
        dispatching = asyncio.ensure_future(
            dispatch_due(
                uow_factory,
                email,
                sms,
                batch=batch,
                connections=connections,
                retry_for=retry_for,
                lease=lease,
                stopping=stopping,
            )
        )
        try:
            claimed = await asyncio.shield(dispatching)
        except asyncio.CancelledError:
            stopping.set()
            with contextlib.suppress(Exception):
                await dispatching
            with contextlib.suppress(Exception):
                await email.close_idle()
            raise
        except Exception as exc:
            failures += 1
            log.warning("dispatcher will retry: %s", type(exc).__name__)
            await asyncio.sleep(min(interval * 2**failures, 10.0))
            continue
        failures = 0
        if claimed == 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), interval)


def _hours(period: timedelta) -> str:
    return f"{period.total_seconds() / 3600:g} h"
