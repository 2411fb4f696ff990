"""Notification's unit of work: recipients and messages on one transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ifuno_shared.events import CloudEvent
from ifuno_shared.persistence import AbstractUnitOfWork, SqlUnitOfWork
from ifuno_shared.persistence.unit_of_work import OnCommit, outbox_row
from ifuno_shared.retention import DEFAULT_RETENTION_UNTIL
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ifuno_notification.adapters.copies import forget_copies
from ifuno_notification.adapters.repository import (
    AbstractNotificationRepository,
    Settlement,
    SqlNotificationRepository,
)


class NotificationUnitOfWork(AbstractUnitOfWork):
    notifications: AbstractNotificationRepository
    retention_until: str = DEFAULT_RETENTION_UNTIL
    """The day of Y+1 (`MM-DD`) when campaign Y's personal data is erased."""
    copy_dir: Path | None = None
    """Where the emails' copies are kept (`IFUNO_NOTIFICATION_OUTBOX_DIR`), if anywhere."""

    async def record_sent(self, claim: str, sent: Sequence[tuple[str, CloudEvent]]) -> list[str]:
        """Record acceptances, each (message id, its `notification.sent` event) with its
        attempt and its event in the outbox, all or none; return the ids recorded (those
        `claim` still held: only their events are kept). Not inside `async with`: it is
        a unit of its own. Here a transaction; the SQL unit writes it in one statement."""
        async with self:
            recorded = await self.notifications.settle(
                claim, [Settlement(message_id, "sent") for message_id, _ in sent]
            )
            held = set(recorded)
            self.published.extend(event for message_id, event in sent if message_id in held)
            await self.commit()
        return recorded

    def forget_copies(self, message_ids: Sequence[str]) -> None:
        """Delete the stored copies of these messages (an erasure)."""
        if self.copy_dir is not None:
            forget_copies(self.copy_dir, message_ids)


OUTBOX_COLUMNS = ("event_id", "topic", "key", "type", "value")

RECORD_SENT = """
WITH given AS (
    SELECT * FROM unnest($2::varchar[], $3::varchar[], $4::varchar[], $5::varchar[],
                         $6::varchar[], $7::text[])
        WITH ORDINALITY AS g(message_id, event_id, topic, key, type, value, position)
), marked AS (
    UPDATE message
       SET status = 'sent', claim = NULL, attempts = attempts + 1, last_error = NULL,
           sent_at = now()
     WHERE id = ANY($2::varchar[]) AND claim = $1
    RETURNING id
), attempted AS (
    INSERT INTO delivery_attempt (message_id, outcome) SELECT id, 'sent' FROM marked
), announced AS (
    INSERT INTO outbox (event_id, topic, key, type, value)
    SELECT g.event_id, g.topic, g.key, g.type, g.value
      FROM given g JOIN marked m ON m.id = g.message_id
     ORDER BY g.position
)
SELECT id FROM marked
"""
"""`SqlNotificationRepository.settle` for acceptances, with their events' outbox rows,
in one statement ($1 the claim, then the columns of each acceptance)."""


class SqlNotificationUnitOfWork(SqlUnitOfWork, NotificationUnitOfWork):
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        on_commit: OnCommit | None = None,
        *,
        retention_until: str = DEFAULT_RETENTION_UNTIL,
        copy_dir: Path | None = None,
        on_messages_queued: Callable[[], None] | None = None,
    ) -> None:
        """`on_messages_queued`: called after a commit that queued messages, so the
        dispatcher sends them at once rather than at its next poll."""
        super().__init__(session_factory, on_commit)
        self.retention_until = retention_until
        self.copy_dir = copy_dir
        self._on_messages_queued = on_messages_queued

    async def _open_repositories(self) -> None:
        self.notifications = self._repository = SqlNotificationRepository(self.session)

    async def record_sent(self, claim: str, sent: Sequence[tuple[str, CloudEvent]]) -> list[str]:
        """One statement, outside any transaction (a statement is atomic on its own): the
        dispatcher's commonest write costs one round trip, not four (BEGIN, the update,
        the outbox, COMMIT)."""
        rows = [(message_id, outbox_row(event)) for message_id, event in sent]
        engine = self._session_factory.kw["bind"]
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            result = await autocommit.exec_driver_sql(
                RECORD_SENT,
                (
                    claim,
                    [message_id for message_id, _ in rows],
                    *([row[column] for _, row in rows] for column in OUTBOX_COLUMNS),
                ),
            )
            recorded: list[str] = list(result.scalars())
        if recorded and self._on_commit is not None:
            self._on_commit()
        return recorded

    async def _commit(self) -> None:
        await super()._commit()
        if self._repository.messages_queued and self._on_messages_queued is not None:
            self._on_messages_queued()

    async def prefetch(self, events: Sequence[CloudEvent]) -> None:
        """The recipients of a batch's candidate events (not the clock's campaign)."""
        await self.notifications.prefetch(
            application_id
            for event in events
            if (application_id := getattr(event.data, "application_id", None)) is not None
        )
