"""Recipients and messages in PostgreSQL."""

from __future__ import annotations

import abc
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from ifuno_shared.calendar import PARIS
from ifuno_shared.events import CloudEvent, Level, Regime, decode_event, encode_event
from ifuno_shared.events.candidature import Contact
from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ifuno_notification.adapters.tables import (
    delivery_attempt,
    message,
    parked_event,
    recipient,
)
from ifuno_notification.domain.messages import Recipient


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
    outgoing: OutgoingMessage


class AbstractNotificationRepository(abc.ABC):
    @abc.abstractmethod
    async def get(self, application_id: str) -> Recipient | None: ...

    @abc.abstractmethod
    async def save(self, who: Recipient) -> None: ...

    @abc.abstractmethod
    async def add_message(self, outgoing: OutgoingMessage) -> bool:
        """Record a message to send; False if this (cause, channel, template) exists."""

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

    @abc.abstractmethod
    async def messages_of(self, application_id: str) -> list[dict[str, object]]: ...

    @abc.abstractmethod
    async def due_incomplete_reminders(
        self, after: datetime | None, until: datetime, ahead: timedelta
    ) -> list[str]: ...

    @abc.abstractmethod
    async def due_offer_reminders(
        self, after: datetime | None, until: datetime, ahead: timedelta
    ) -> list[str]: ...


def _paris(instant: datetime | None) -> datetime | None:
    return None if instant is None else instant.astimezone(PARIS)


class SqlNotificationRepository(AbstractNotificationRepository):
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, application_id: str) -> Recipient | None:
        row = (
            (
                await self._session.execute(
                    select(recipient)
                    .where(recipient.c.application_id == application_id)
                    .with_for_update()
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return Recipient(
            application_id=row["application_id"],
            campaign=row["campaign"],
            level=Level(row["level"]),
            regime=Regime(row["regime"]),
            contact=Contact.model_validate(row["contact"]),
            submission_deadline=_paris(row["submission_deadline"]),
            complete=row["complete"],
            offer_deadline=_paris(row["offer_deadline"]),
            offer_open=row["offer_open"],
            incomplete_reminded=row["incomplete_reminded"],
            offer_reminded_for=_paris(row["offer_reminded_for"]),
        )

    async def save(self, who: Recipient) -> None:
        values = {
            "campaign": who.campaign,
            "level": who.level.value,
            "regime": who.regime.value,
            "contact": who.contact.model_dump(mode="json"),
            "submission_deadline": who.submission_deadline,
            "complete": who.complete,
            "offer_deadline": who.offer_deadline,
            "offer_open": who.offer_open,
            "incomplete_reminded": who.incomplete_reminded,
            "offer_reminded_for": who.offer_reminded_for,
        }
        await self._session.execute(
            insert(recipient)
            .values(application_id=who.application_id, **values)
            .on_conflict_do_update(index_elements=["application_id"], set_=values)
        )

    async def add_message(self, outgoing: OutgoingMessage) -> bool:
        result = await self._session.execute(
            insert(message)
            .values(id=str(uuid.uuid4()), status="pending", attempts=0, **outgoing.__dict__)
            .on_conflict_do_nothing(constraint="one_message_per_cause")
            .returning(message.c.id)
        )
        return result.first() is not None

    async def park(self, application_id: str, event: CloudEvent) -> None:
        await self._session.execute(
            parked_event.insert().values(
                application_id=application_id, event=encode_event(event).decode()
            )
        )

    async def unpark(self, application_id: str) -> list[CloudEvent]:
        rows = await self._session.execute(
            delete(parked_event)
            .where(parked_event.c.application_id == application_id)
            .returning(parked_event.c.id, parked_event.c.event)
        )
        return [decode_event(text) for _, text in sorted(rows.all())]

    async def claim_due(self, limit: int) -> list[PendingMessage]:
        rows = (
            await self._session.execute(
                select(message)
                .where(message.c.status == "pending", message.c.next_attempt_at <= func.now())
                .order_by(message.c.next_attempt_at, message.c.created_at)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).mappings()
        fields = OutgoingMessage.__dataclass_fields__
        return [
            PendingMessage(
                id=row["id"],
                attempts=row["attempts"],
                outgoing=OutgoingMessage(**{name: row[name] for name in fields}),
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
        await self._session.execute(
            message.update().where(message.c.id == message_id).values(**values)
        )
        outcome = "retry" if status == "pending" else status
        await self._session.execute(
            delivery_attempt.insert().values(message_id=message_id, outcome=outcome, error=error)
        )

    async def messages_of(self, application_id: str) -> list[dict[str, object]]:
        rows = await self._session.execute(
            select(
                message.c.id,
                message.c.channel,
                message.c.template,
                message.c.cause_event_id,
                message.c.subject,
                message.c.status,
                message.c.attempts,
                message.c.last_error,
                message.c.created_at,
                message.c.sent_at,
            )
            .where(message.c.application_id == application_id)
            .order_by(message.c.created_at, message.c.channel)
        )
        return [dict(row) for row in rows.mappings()]

    async def due_incomplete_reminders(
        self, after: datetime | None, until: datetime, ahead: timedelta
    ) -> list[str]:
        due = recipient.c.submission_deadline - ahead
        query = select(recipient.c.application_id).where(
            recipient.c.complete.is_(False),
            recipient.c.incomplete_reminded.is_(False),
            due <= until,
            recipient.c.submission_deadline > until,
        )
        if after is not None:
            query = query.where(due > after)
        return list((await self._session.execute(query)).scalars())

    async def due_offer_reminders(
        self, after: datetime | None, until: datetime, ahead: timedelta
    ) -> list[str]:
        due = recipient.c.offer_deadline - ahead
        query = select(recipient.c.application_id).where(
            recipient.c.offer_open.is_(True),
            due <= until,
            recipient.c.offer_deadline > until,
            or_(
                recipient.c.offer_reminded_for.is_(None),
                recipient.c.offer_reminded_for != recipient.c.offer_deadline,
            ),
        )
        if after is not None:
            query = query.where(and_(due > after))
        return list((await self._session.execute(query)).scalars())
