"""Notification's unit of work: recipients and messages on one transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from ifuno_shared.events import CloudEvent
from ifuno_shared.persistence import AbstractUnitOfWork, SqlUnitOfWork
from ifuno_shared.persistence.unit_of_work import OnCommit
from ifuno_shared.retention import DEFAULT_RETENTION_UNTIL
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ifuno_notification.adapters.copies import forget_copies
from ifuno_notification.adapters.repository import (
    AbstractNotificationRepository,
    SqlNotificationRepository,
)


class NotificationUnitOfWork(AbstractUnitOfWork):
    notifications: AbstractNotificationRepository
    retention_until: str = DEFAULT_RETENTION_UNTIL
    """The day of Y+1 (`MM-DD`) when campaign Y's personal data is erased."""
    copy_dir: Path | None = None
    """Where the emails' copies are kept (`IFUNO_NOTIFICATION_OUTBOX_DIR`), if anywhere."""

    def forget_copies(self, message_ids: Sequence[str]) -> None:
        """Delete the stored copies of these messages (an erasure)."""
        if self.copy_dir is not None:
            forget_copies(self.copy_dir, message_ids)


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
