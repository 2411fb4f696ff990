"""Notification's unit of work: recipients and messages on one transaction."""

from __future__ import annotations

from collections.abc import Sequence

from ifuno_shared.events import CloudEvent
from ifuno_shared.persistence import AbstractUnitOfWork, SqlUnitOfWork

from ifuno_notification.adapters.repository import (
    AbstractNotificationRepository,
    SqlNotificationRepository,
)


class NotificationUnitOfWork(AbstractUnitOfWork):
    notifications: AbstractNotificationRepository


class SqlNotificationUnitOfWork(SqlUnitOfWork, NotificationUnitOfWork):
    async def _open_repositories(self) -> None:
        self.notifications = SqlNotificationRepository(self.session)

    async def prefetch(self, events: Sequence[CloudEvent]) -> None:
        """The recipients of a batch's candidate events (not the clock's campaign)."""
        await self.notifications.prefetch(
            application_id
            for event in events
            if (application_id := getattr(event.data, "application_id", None)) is not None
        )
