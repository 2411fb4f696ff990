"""Recipients and messages in PostgreSQL."""

from __future__ import annotations

import abc
import copy
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from ifuno_shared.calendar import in_paris
from ifuno_shared.events import CloudEvent, Level, Regime, decode_event, encode_event
from ifuno_shared.events.candidature import Contact
from ifuno_shared.persistence.repository import TrackingRepository, among
from sqlalchemy import Column, DateTime, RowMapping, delete, exists, func, literal, select
from sqlalchemy.dialects.postgresql import Range, insert
from sqlalchemy.ext.asyncio import AsyncSession

from ifuno_notification.adapters.tables import (
    delivery_attempt,
    erased_recipient,
    message,
    parked_event,
    recipient,
)
from ifuno_notification.domain.messages import DueWindow, Recipient


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
    """Since the message was recorded: transient failures are retried for a while only."""
    outgoing: OutgoingMessage


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
    async def claim_due(self, limit: int) -> list[PendingMessage]:
        """Pending messages due now, locked for this transaction (others skip them)."""

    @abc.abstractmethod
    async def settle(
        self, message_id: str, status: str, error: str | None, retry_in: timedelta | None
    ) -> None:
        """Record an attempt; `status` sent, failed, or pending (retry after `retry_in`)."""

    async def mark_sent(self, message_ids: Sequence[str]) -> None:
        """Record a successful attempt for each of these messages."""
        for message_id in message_ids:
            await self.settle(message_id, "sent", None, None)

    @abc.abstractmethod
    async def postpone(self, message_ids: Sequence[str], delay: timedelta) -> None:
        """Try these later without counting an attempt (their server is down)."""

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
        self._nothing_parked: set[str] = set()
        self._unsaved_messages: list[OutgoingMessage] = []
        self._unsaved_parked: list[dict[str, str]] = []

    def _key(self, aggregate: Recipient) -> str:
        return aggregate.application_id

    async def _load(self, keys: list[str]) -> dict[str, Recipient]:
        """The recipients in one statement (locked, in id order: the order reminders
        lock them in too), then which of the missing ones have parked events."""
        wanted = sorted(keys)
        has_parked = (
            exists().where(parked_event.c.application_id == recipient.c.application_id)
        ).label("has_parked")
        rows = await self.session.execute(
            select(recipient, has_parked)
            .where(among(recipient.c.application_id, wanted))
            .order_by(recipient.c.application_id)
            .with_for_update(of=recipient)
        )
        found: dict[str, Recipient] = {}
        for row in rows.mappings():
            found[row["application_id"]] = recipient_from_row(row)
            if not row["has_parked"]:
                self._nothing_parked.add(row["application_id"])
        absent = [key for key in wanted if key not in found]
        if absent:
            parked = await self.session.execute(
                select(parked_event.c.application_id)
                .where(among(parked_event.c.application_id, absent))
                .distinct()
            )
            self._nothing_parked |= set(absent) - set(parked.scalars())
        return found

    async def _write(self, aggregates: list[Recipient], stored: set[str]) -> None:
        """An upsert: a recipient created meanwhile by another transaction is updated."""
        rows = [recipient_row(who) for who in aggregates]
        upsert = insert(recipient)
        columns = [name for name in rows[0] if name != "application_id"]
        await self.session.execute(
            upsert.on_conflict_do_update(
                index_elements=["application_id"],
                set_={name: upsert.excluded[name] for name in columns},
            ),
            rows,
        )

    async def flush(self) -> None:
        """The saved recipients, then the messages and the parked events recorded."""
        await super().flush()
        if self._unsaved_messages:
            messages = [
                {"id": str(uuid.uuid4()), "status": "pending", "attempts": 0, **m.__dict__}
                for m in self._unsaved_messages
            ]
            self._unsaved_messages = []
            await self.session.execute(
                insert(message).on_conflict_do_nothing(constraint="one_message_per_cause"),
                messages,
            )
        if self._unsaved_parked:
            parked, self._unsaved_parked = self._unsaved_parked, []
            await self.session.execute(parked_event.insert(), parked)

    async def add_message(self, outgoing: OutgoingMessage) -> None:
        self._unsaved_messages.append(outgoing)

    async def park(self, application_id: str, event: CloudEvent) -> None:
        self._nothing_parked.discard(application_id)
        self._unsaved_parked.append(
            {"application_id": application_id, "event": encode_event(event).decode()}
        )

    async def unpark(self, application_id: str) -> list[CloudEvent]:
        """Through `execute`, so an event parked earlier in this transaction is written
        first and comes back too."""
        if application_id in self._nothing_parked:
            return []
        self._nothing_parked.add(application_id)
        rows = await self.execute(
            delete(parked_event)
            .where(parked_event.c.application_id == application_id)
            .returning(parked_event.c.id, parked_event.c.event)
        )
        return [decode_event(row.event) for row in sorted(rows.all(), key=lambda row: row.id)]

    async def erased(self, application_id: str) -> bool:
        found = await self.execute(
            select(erased_recipient.c.application_id).where(
                erased_recipient.c.application_id == application_id
            )
        )
        return found.first() is not None

    async def erase(self, application_ids: Sequence[str]) -> list[str]:
        ids = sorted(set(application_ids))
        if not ids:
            return []
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
        self._nothing_parked |= wanted
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

    async def claim_due(self, limit: int) -> list[PendingMessage]:
        rows = (
            await self.execute(
                select(message, (func.now() - message.c.created_at).label("age"))
                .where(message.c.status == "pending", message.c.next_attempt_at <= func.now())
                .order_by(message.c.next_attempt_at, message.c.created_at)
                .limit(limit)
                .with_for_update(of=message, skip_locked=True)
            )
        ).mappings()
        names = [f.name for f in fields(OutgoingMessage)]
        return [
            PendingMessage(
                id=row["id"],
                attempts=row["attempts"],
                age=row["age"],
                outgoing=OutgoingMessage(**{name: row[name] for name in names}),
            )
            for row in rows
        ]

    async def settle(
        self, message_id: str, status: str, error: str | None, retry_in: timedelta | None
    ) -> None:
        values: dict[str, object] = {
            "status": status,
            "attempts": message.c.attempts + 1,
            "last_error": error,
        }
        if status == "sent":
            values["sent_at"] = func.now()
        if retry_in is not None:
            values["next_attempt_at"] = func.now() + retry_in
        await self.execute(message.update().where(message.c.id == message_id).values(**values))
        outcome = "retry" if status == "pending" else status
        await self.execute(
            delivery_attempt.insert().values(message_id=message_id, outcome=outcome, error=error)
        )

    async def mark_sent(self, message_ids: Sequence[str]) -> None:
        """Two statements for a whole dispatch batch, not two per message."""
        if not message_ids:
            return
        await self.execute(
            message.update()
            .where(message.c.id.in_(list(message_ids)))
            .values(
                status="sent", attempts=message.c.attempts + 1, last_error=None, sent_at=func.now()
            )
        )
        await self.execute(
            delivery_attempt.insert(),
            [{"message_id": i, "outcome": "sent", "error": None} for i in message_ids],
        )

    async def postpone(self, message_ids: Sequence[str], delay: timedelta) -> None:
        if message_ids:
            await self.execute(
                message.update()
                .where(message.c.id.in_(list(message_ids)))
                .values(next_attempt_at=func.now() + delay)
            )

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
