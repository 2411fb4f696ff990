"""Events the notification service publishes on `ifuno.notification.v1`."""

from __future__ import annotations

from typing import ClassVar, Literal

from ifuno_shared.events.base import ApplicationId, EventData
from ifuno_shared.events.topics import Topic

Channel = Literal["email", "sms"]


class NotificationEventData(EventData):
    topic: ClassVar[Topic] = Topic.NOTIFICATION
    source: ClassVar[str] = "/ifuno/notification"


class NotificationSent(NotificationEventData):
    event_type: ClassVar[str] = "ifuno.notification.sent.v1"

    application_id: ApplicationId
    channel: Channel
    template: str
    cause_event_id: str


class NotificationFailed(NotificationEventData):
    event_type: ClassVar[str] = "ifuno.notification.failed.v1"

    application_id: ApplicationId
    channel: Channel
    template: str
    cause_event_id: str
    error: str


class ErasureConfirmed(NotificationEventData):
    """The notification service holds no personal data about this application any more."""

    event_type: ClassVar[str] = "ifuno.notification.erasure_confirmed.v1"

    application_id: ApplicationId
    service: str = "notification"


NOTIFICATION_EVENTS: tuple[type[NotificationEventData], ...] = (
    NotificationSent,
    NotificationFailed,
    ErasureConfirmed,
)
