"""Recipients and messages in PostgreSQL."""

from __future__ import annotations

import abc
import copy
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, Literal

from ifuno_shared.calendar import in_paris
from ifuno_shared.events import CloudEvent, Level, Regime, decode_event, encode_event
from ifuno_shared.events.candidature import Contact
from ifuno_shared.persistence.repository import (
    TrackingRepository,
    among,
    flush_session,
    one_of,
    upsert,
)
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    RowMapping,
    String,
    any_,
    bindparam,
    case,
    delete,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, Range, insert
from sqlalchemy.ext.asyncio import AsyncSession

from ifuno_notification.adapters.tables import (
    delivery_attempt,
    erased_recipient,
    message,
    parked_event,
    recipient,
)
from ifuno_notification.domain.messages import DueWindow, Recipient

RECIPIENT_LOCKS = 0x1F0
"""The advisory lock space (`pg_advisory_xact_lock(space, hashtext(application id))`)
of the applications whose recipient a transaction reads, see `_load`."""

INTERRUPTED = "no outcome recorded before the claim lapsed: the server may have it already"


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to one address on one channel, rendered, waiting to be sent."""

    application_id: str
    cause_event_id: str
    channel: str
    template: str
    address: str
    subject: str | None
    body_text: str
    body_html: str | None


@dataclass(frozen=True)
class PendingMessage:
    id: str
    attempts: int
    """Attempts made before this one."""
    age: timedelta
    """Since the message was queued: transient failures are retried for a while only."""
    outgoing: OutgoingMessage


@dataclass(frozen=True)
class Claim:
    """Messages one dispatcher is sending: `sending` until their outcome is recorded
    under this token, or until the lease lapses and another claim takes them."""

    token: str
    messages: list[PendingMessage]


@dataclass(frozen=True)
class Settlement:
    """What became of one claimed message."""

    message_id: str
    status: Literal["sent", "failed", "pending"]
    error: str | None = None
    retry_in: timedelta = timedelta(0)
    """pending: due again after this delay."""
    attempted: bool = True
    """False: not tried (its server was down, or the dispatcher was stopping), so no
    attempt is counted."""
    expired: bool = False
    """failed: the retry period ran out (not a refusal): an admin may queue it again."""


class AbstractNotificationRepository(abc.ABC):
    @abc.abstractmethod
    async def get(self, application_id: str) -> Recipient | None:
        """The recipient, locked for this transaction."""

    @abc.abstractmethod
    async def get_many(self, application_ids: Iterable[str]) -> list[Recipient]:
        """The recipients stored among these, in that order, locked for this transaction."""

    @abc.abstractmethod
    async def save(self, who: Recipient) -> None: ...

    @abc.abstractmethod
    async def add_message(self, outgoing: OutgoingMessage) -> None:
        """Record a message to send, unless this (cause, application, channel,
        template) is already recorded."""

    async def prefetch(self, application_ids: Iterable[str]) -> None:  # noqa: B027 (optional)
        """Read ahead the recipients a batch of events is about (an optimisation only)."""

    @abc.abstractmethod
    async def park(self, application_id: str, event: CloudEvent) -> None:
        """Keep an event until the application's contact details arrive."""

    @abc.abstractmethod
    async def unpark(self, application_id: str) -> list[CloudEvent]:
        """The events kept for an application, in arrival order, removed from the park."""

    @abc.abstractmethod
    async def claim_due(self, limit: int, lease: timedelta) -> Claim:
        """Claim due messages, and messages whose claim lapsed (their dispatcher died),
        for `lease`: `sending` under a new token; other claims skip them."""

    @abc.abstractmethod
    async def settle(self, claim: str, settlements: Sequence[Settlement]) -> list[str]:
        """Record these outcomes (each attempted one as an attempt) of messages still
        held by `claim`; return the ids recorded (a message whose claim lapsed and was
        taken again, or already recorded, is left alone)."""

    @abc.abstractmethod
    async def requeue_failed(
        self, message_ids: Sequence[str] | None, channel: str | None
    ) -> list[str]:
        """Queue failed messages again, due now, with a new retry period: these ones
        (whatever the failure), or without ids every one whose retry period ran out.
        Return the ids queued."""

    @abc.abstractmethod
    async def messages_of(self, application_id: str) -> list[dict[str, Any]]:
        """What was recorded for an application, with every delivery attempt."""

    @abc.abstractmethod
    async def erased(self, application_id: str) -> bool:
        """Whether this application's data was erased here (nothing is taken in again)."""

    @abc.abstractmethod
    async def erase(self, application_ids: Sequence[str]) -> list[str]:
        """Delete the recipients, their messages (pending ones are so cancelled), their
        delivery attempts and parked events, and mark them erased. Returns the ids of the
        messages deleted (whose stored email copies go too)."""

    @abc.abstractmethod
    async def campaigns_holding_data(self, up_to: int) -> list[int]:
        """The campaigns up to `up_to` that still have recipients."""

    @abc.abstractmethod
    async def recipients_in(self, campaign: int, limit: int) -> list[str]:
        """Up to `limit` recipients of the campaign."""

    @abc.abstractmethod
    async def incomplete_reminders_due(self, now: datetime) -> list[str]:
        """Applications whose incomplete-file reminder is due at `now` (see Recipient)."""

    @abc.abstractmethod
    async def offer_reminders_due(self, now: datetime) -> list[str]:
        """Applications whose offer reminder is due at `now` (see Recipient)."""


_RECIPIENT_TIMES = ("submitted_at", "submission_deadline", "offer_deadline", "offer_reminded_for")
_RECIPIENT_FLAGS = ("complete", "closed", "offer_open", "incomplete_reminded")


def recipient_row(who: Recipient) -> dict[str, object]:
    """A recipient as its row, with when its reminders are due (the domain's rule)."""
    return {
        "application_id": who.application_id,
        "campaign": who.campaign,
        "level": who.level.value,
        "regime": who.regime.value,
        "contact": who.contact.model_dump(mode="json"),
        **{name: getattr(who, name) for name in _RECIPIENT_TIMES + _RECIPIENT_FLAGS},
        "incomplete_reminder_window": _range(who.incomplete_reminder_window),
        "offer_reminder_window": _range(who.offer_reminder_window),
    }


def _range(window: DueWindow | None) -> Range[datetime] | None:
    """`[opens, closes)`: the database's `@>` then says what the domain's `in` says."""
    return None if window is None else Range(window.opens, window.closes, bounds="[)")


def recipient_from_row(row: RowMapping) -> Recipient:
    return Recipient(
        application_id=row["application_id"],
        campaign=row["campaign"],
        level=Level(row["level"]),
        regime=Regime(row["regime"]),
        contact=Contact.model_validate(row["contact"]),
        **{name: in_paris(row[name]) for name in _RECIPIENT_TIMES},
        **{name: row[name] for name in _RECIPIENT_FLAGS},
    )


def _copy(who: Recipient) -> Recipient:
    """A handler's copy: the fields are immutable values, so a shallow copy (cheap
    under a burst) with a list of events of its own."""
    copied = copy.copy(who)
    copied.events = []
    return copied


class SqlNotificationRepository(TrackingRepository[str, Recipient], AbstractNotificationRepository):
    """One transaction's view. Under load a consumer batch holds several events of
    each of many applications, and every statement is a round trip: the batch's
    recipients are read ahead in one statement (locked) with whether they have parked
    events, and kept; recipients, messages and parked events are written at `flush`,
    each recipient once and each table in one `executemany`."""

    copies = staticmethod(_copy)

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        self._parked: dict[str, list[tuple[int, str]]] = {}
        """Of the applications read (`_parked_read`), their stored parked events (row id,
        event) not taken yet, in parking order."""
        self._parked_read: set[str] = set()
        self._taken_parked: list[int] = []
        """Stored parked events handed back by `unpark`: deleted at `flush`."""
        self._erased: set[str] = set()
        """Of the applications read (`_known`), those erased here."""
        self._unsaved_messages: list[OutgoingMessage] = []
        self.messages_queued = 0
        """Messages this transaction has written to be sent (the dispatcher's cue)."""
        self._unsaved_parked: list[tuple[str, CloudEvent]] = []

    def _key(self, aggregate: Recipient) -> str:
        return aggregate.application_id

    async def _load(self, keys: list[str]) -> dict[str, Recipient]:
        """The applications' locks, then the recipients in one statement (locked, in id
        order: the order reminders lock them in too), their parked events in another,
        and which of the missing ones were erased (every event's handler asks: one
        statement a batch, not one an event). Under a burst an application's contact
        details often come a delivery after its events: reading their parked events
        one contact at a time was a statement, and a flush of the batch's writes, each.

        A row lock cannot guard a recipient that does not exist yet: the contact
        details (contacts topic) and an event about the application (another topic,
        another instance when notification runs several) arrive in two concurrent
        transactions, and without the application's lock each reads "no recipient,
        nothing parked", one parks the event and the other creates the recipient:
        the event stays parked for ever. Holding the lock, each reads what the other
        committed."""
        wanted = sorted(keys)
        await self._lock_applications(wanted)
        rows = await self.session.execute(
            select(recipient)
            .where(among(recipient.c.application_id, wanted))
            .order_by(recipient.c.application_id)
            .with_for_update(of=recipient)
        )
        found = {row["application_id"]: recipient_from_row(row) for row in rows.mappings()}
        await self._read_parked(wanted)
        absent = [key for key in wanted if key not in found]
        if absent:
            erased = await self.session.execute(
                select(erased_recipient.c.application_id).where(
                    among(erased_recipient.c.application_id, absent)
                )
            )
            self._erased |= set(erased.scalars())
        return found

    async def _read_parked(self, application_ids: list[str]) -> None:
        """The parked events of these applications (their locks held), kept until taken."""
        wanted = [key for key in application_ids if key not in self._parked_read]
        if not wanted:
            return
        self._parked_read.update(wanted)
        rows = await self.session.execute(
            select(parked_event.c.id, parked_event.c.application_id, parked_event.c.event)
            .where(among(parked_event.c.application_id, wanted))
            .order_by(parked_event.c.id)
        )
        for row in rows:
            self._parked.setdefault(row.application_id, []).append((row.id, row.event))

    async def _lock_applications(self, application_ids: list[str]) -> None:
        """Each application's lock, to the end of the transaction (in one order: no two
        transactions wait for each other)."""
        await self.session.execute(
            text(
                "SELECT count(*) FROM (SELECT pg_advisory_xact_lock(:space, hashtext(id))"
                " FROM unnest(CAST(:ids AS text[])) AS id ORDER BY hashtext(id)) AS locked"
            ),
            {"space": RECIPIENT_LOCKS, "ids": application_ids},
        )

    async def _write(self, aggregates: list[Recipient], stored: set[str]) -> None:
        """An upsert: a recipient created meanwhile by another transaction is updated."""
        rows = [recipient_row(who) for who in aggregates]
        await self.session.execute(upsert(recipient, "application_id", tuple(rows[0])), rows)

    async def flush(self) -> None:
        """The saved recipients, then the messages and the parked events recorded."""
        await super().flush()
        if self._unsaved_messages:
            messages = [
                {"id": str(uuid.uuid4()), "status": "pending", "attempts": 0, **m.__dict__}
                for m in self._unsaved_messages
            ]
            self._unsaved_messages = []
            self.messages_queued += len(messages)
            await self.session.execute(
                insert(message).on_conflict_do_nothing(constraint="one_message_per_cause"),
                messages,
            )
        if self._taken_parked:
            taken, self._taken_parked = self._taken_parked, []
            await self.session.execute(
                delete(parked_event).where(
                    parked_event.c.id == any_(bindparam(None, taken, type_=ARRAY(BigInteger)))
                )
            )
        if self._unsaved_parked:
            parked, self._unsaved_parked = self._unsaved_parked, []
            await self.session.execute(
                parked_event.insert(),
                [{"application_id": key, "event": encode_event(e).decode()} for key, e in parked],
            )

    async def add_message(self, outgoing: OutgoingMessage) -> None:
        self._unsaved_messages.append(outgoing)

    async def park(self, application_id: str, event: CloudEvent) -> None:
        self._unsaved_parked.append((application_id, event))

    async def unpark(self, application_id: str) -> list[CloudEvent]:
        """The stored ones (read with the recipient, see `_load`), then those parked
        earlier in this transaction, in parking order; no statement here."""
        if application_id not in self._parked_read:
            await self.prefetch([application_id])
            await self._read_parked([application_id])
        stored = self._parked.pop(application_id, [])
        self._taken_parked += [row_id for row_id, _ in stored]
        waiting = [event for key, event in self._unsaved_parked if key == application_id]
        if waiting:
            self._unsaved_parked = [p for p in self._unsaved_parked if p[0] != application_id]
        return [decode_event(event) for _, event in stored] + waiting

    async def erased(self, application_id: str) -> bool:
        """Read with the recipient (`_load`): an erased one has no recipient row."""
        await self.prefetch([application_id])
        return application_id in self._erased

    async def erase(self, application_ids: Sequence[str]) -> list[str]:
        ids = sorted(set(application_ids))
        if not ids:
            return []
        # The applications' locks, as `_load` takes them: contact details read meanwhile
        # in another transaction either come before (and are erased here) or see the
        # erasure (and are dropped), never re-create a recipient after it.
        await flush_session(self.session)
        await self._lock_applications(ids)
        await self.execute(
            insert(erased_recipient)
            .values([{"application_id": application_id} for application_id in ids])
            .on_conflict_do_nothing()
        )
        await self.execute(delete(parked_event).where(among(parked_event.c.application_id, ids)))
        gone = await self.execute(
            delete(message).where(among(message.c.application_id, ids)).returning(message.c.id)
        )
        await self.execute(delete(recipient).where(among(recipient.c.application_id, ids)))
        wanted = set(ids)
        self._known = {key: known for key, known in self._known.items() if key not in wanted}
        self._known.update(dict.fromkeys(wanted))
        for application_id in wanted:
            self._parked.pop(application_id, None)
        self._parked_read |= wanted
        self._unsaved_parked = [p for p in self._unsaved_parked if p[0] not in wanted]
        self._erased |= wanted
        return list(gone.scalars())

    async def campaigns_holding_data(self, up_to: int) -> list[int]:
        found = await self.execute(
            select(recipient.c.campaign)
            .where(recipient.c.campaign <= up_to)
            .distinct()
            .order_by(recipient.c.campaign)
        )
        return list(found.scalars())

    async def recipients_in(self, campaign: int, limit: int) -> list[str]:
        found = await self.execute(
            select(recipient.c.application_id)
            .where(recipient.c.campaign == campaign)
            .order_by(recipient.c.application_id)
            .limit(limit)
        )
        return list(found.scalars())

    async def claim_due(self, limit: int, lease: timedelta) -> Claim:
        """One statement picks (skipping rows other claims hold), marks and returns. A
        lapsed claim counts as an attempt, recorded `interrupted`: its dispatcher
        stopped without recording an outcome, so the server may have it already."""
        token = str(uuid.uuid4())
        due = (
            select(message.c.id, message.c.status, message.c.next_attempt_at)
            .where(one_of(message.c.status, ("pending", "sending")))
            .where(message.c.next_attempt_at <= func.now())
            .order_by(message.c.next_attempt_at, message.c.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .cte("due")
        )
        lapsed = due.c.status == "sending"
        rows = (
            await self.execute(
                message.update()
                .where(message.c.id == due.c.id)
                .values(
                    status="sending",
                    claim=token,
                    next_attempt_at=func.now() + lease,
                    attempts=message.c.attempts + case((lapsed, 1), else_=0),
                )
                .returning(
                    message,
                    lapsed.label("lapsed"),
                    due.c.next_attempt_at.label("due_at"),
                    (func.now() - message.c.queued_at).label("age"),
                )
            )
        ).mappings()
        ordered = sorted(rows, key=lambda row: (row["due_at"], row["created_at"]))
        interrupted = [
            {"message_id": row["id"], "outcome": "interrupted", "error": INTERRUPTED}
            for row in ordered
            if row["lapsed"]
        ]
        if interrupted:
            await self.execute(delivery_attempt.insert(), interrupted)
        names = [f.name for f in fields(OutgoingMessage)]
        return Claim(
            token,
            [
                PendingMessage(
                    id=row["id"],
                    attempts=row["attempts"],
                    age=row["age"],
                    outgoing=OutgoingMessage(**{name: row[name] for name in names}),
                )
                for row in ordered
            ],
        )

    async def settle(self, claim: str, settlements: Sequence[Settlement]) -> list[str]:
        """The acceptances (the common case) and their attempts in one statement; each
        other outcome in its own, then their attempts in one."""
        held = message.c.claim == claim
        settled: list[str] = []
        sent = [s.message_id for s in settlements if s.status == "sent"]
        if sent:
            marked = (
                message.update()
                .where(among(message.c.id, sent), held)
                .values(
                    status="sent",
                    claim=None,
                    attempts=message.c.attempts + 1,
                    last_error=None,
                    sent_at=func.now(),
                )
                .returning(message.c.id)
                .cte("marked")
            )
            result = await self.execute(
                delivery_attempt.insert()
                .from_select(
                    ["message_id", "outcome"], select(marked.c.id, literal("sent", String))
                )
                .returning(delivery_attempt.c.message_id)
            )
            settled += result.scalars()
        others = [s for s in settlements if s.status != "sent"]
        for settlement in others:
            values: dict[str, object] = {"status": settlement.status, "claim": None}
            if settlement.attempted:
                values |= {"attempts": message.c.attempts + 1, "last_error": settlement.error}
            if settlement.status == "pending":
                values["next_attempt_at"] = func.now() + settlement.retry_in
            else:
                values["expired"] = settlement.expired
            result = await self.execute(
                message.update()
                .where(message.c.id == settlement.message_id, held)
                .values(**values)
                .returning(message.c.id)
            )
            settled += result.scalars()
        recorded = set(settled)
        attempts = [
            {
                "message_id": s.message_id,
                "outcome": "retry" if s.status == "pending" else s.status,
                "error": s.error,
            }
            for s in others
            if s.attempted and s.message_id in recorded
        ]
        if attempts:
            await self.execute(delivery_attempt.insert(), attempts)
        return settled

    async def requeue_failed(
        self, message_ids: Sequence[str] | None, channel: str | None
    ) -> list[str]:
        chosen = message.c.expired if message_ids is None else among(message.c.id, message_ids)
        query = message.update().where(message.c.status == "failed", chosen)
        if channel is not None:
            query = query.where(message.c.channel == channel)
        result = await self.execute(
            query.values(
                status="pending", expired=False, next_attempt_at=func.now(), queued_at=func.now()
            ).returning(message.c.id)
        )
        return list(result.scalars())

    async def messages_of(self, application_id: str) -> list[dict[str, Any]]:
        rows = await self.execute(
            select(
                message.c.id,
                message.c.channel,
                message.c.template,
                message.c.cause_event_id,
                message.c.address,
                message.c.subject,
                message.c.status,
                message.c.attempts,
                message.c.last_error,
                message.c.expired,
                message.c.created_at,
                message.c.sent_at,
            )
            .where(message.c.application_id == application_id)
            .order_by(message.c.created_at, message.c.template, message.c.channel)
        )
        found = [dict(row) for row in rows.mappings()]
        attempts = await self.execute(
            select(
                delivery_attempt.c.message_id,
                delivery_attempt.c.at,
                delivery_attempt.c.outcome,
                delivery_attempt.c.error,
            )
            .where(delivery_attempt.c.message_id.in_([m["id"] for m in found]))
            .order_by(delivery_attempt.c.id)
        )
        by_message: dict[str, list[dict[str, Any]]] = {m["id"]: [] for m in found}
        for row in attempts.mappings():
            by_message[row["message_id"]].append(
                {"at": row["at"], "outcome": row["outcome"], "error": row["error"]}
            )
        return [{**m, "delivery_attempts": by_message[m["id"]]} for m in found]

    async def incomplete_reminders_due(self, now: datetime) -> list[str]:
        return await self._due(recipient.c.incomplete_reminder_window, now)

    async def offer_reminders_due(self, now: datetime) -> list[str]:
        return await self._due(recipient.c.offer_reminder_window, now)

    async def _due(self, window: Column[Range[datetime]], now: datetime) -> list[str]:
        """The recipients whose window holds `now`, as the domain saved it: the rule is
        not written again here. In id order, the order a consumer batch locks them in."""
        at = literal(now, DateTime(timezone=True))
        query = select(recipient.c.application_id).where(window.contains(at))
        return list((await self.execute(query.order_by(recipient.c.application_id))).scalars())
