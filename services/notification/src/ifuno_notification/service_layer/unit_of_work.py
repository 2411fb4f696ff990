"""Notification's unit of work: recipients and messages on one transaction."""

from __future__ import annotations

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

    async def _commit(self) -> None:
        await self.notifications.flush()
        await super()._commit()
