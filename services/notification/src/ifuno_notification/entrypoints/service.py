"""The notification service as one runnable definition: consumer, dispatcher, HTTP."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from functools import partial
from pathlib import Path

from ifuno_shared.events.topics import CONSUMER_GROUPS
from ifuno_shared.messaging import Subscription
from ifuno_shared.runtime import ServiceContext, ServiceDefinition

from ifuno_notification.adapters.senders import (
    AbstractEmailSender,
    AbstractSmsSender,
    GatewaySmsSender,
    NoSmsGateway,
    SmtpEmailSender,
)
from ifuno_notification.config import NotificationSettings
from ifuno_notification.entrypoints.http import build_router
from ifuno_notification.service_layer.dispatcher import run_dispatcher
from ifuno_notification.service_layer.handlers import HANDLERS
from ifuno_notification.service_layer.unit_of_work import SqlNotificationUnitOfWork

MIGRATIONS_DIR = Path(__file__).parent.parent / "adapters" / "migrations"


def senders(settings: NotificationSettings) -> tuple[AbstractEmailSender, AbstractSmsSender]:
    email = SmtpEmailSender(
        settings.smtp_host,
        settings.smtp_port,
        settings.smtp_from,
        tls=settings.smtp_tls,
        username=settings.smtp_username,
        password=settings.smtp_password,
        copy_dir=settings.outbox_dir,
    )
    sms: AbstractSmsSender = (
        GatewaySmsSender(settings.sms_gateway_url, settings.sms_gateway_token)
        if settings.sms_gateway_url
        else NoSmsGateway()
    )
    return email, sms


def build_definition(
    settings: NotificationSettings, **consumer_options: object
) -> ServiceDefinition:
    email, sms = senders(settings)
    queued = asyncio.Event()
    """Set when a transaction has queued messages: the dispatcher wakes up for them."""

    async def dispatcher(context: ServiceContext) -> None:
        """Send due messages; stopping, finish and record those being sent."""
        await run_dispatcher(
            context.uow_factory,
            email,
            sms,
            interval=settings.dispatch_interval,
            batch=settings.dispatch_batch,
            connections=settings.smtp_connections,
            retry_for=timedelta(hours=settings.retry_hours),
            lease=timedelta(seconds=settings.claim_lease),
            wake=queued,
        )

    return ServiceDefinition(
        name="notification",
        settings=settings,
        migrations_dir=MIGRATIONS_DIR,
        uow_class=partial(
            SqlNotificationUnitOfWork,
            retention_until=settings.retention_until,
            copy_dir=settings.outbox_dir,
            on_messages_queued=queued.set,
        ),
        subscriptions=[
            Subscription(
                name="notification",
                topics=list(CONSUMER_GROUPS["notification"]),
                handlers=HANDLERS,
            )
        ],
        routers=lambda context: [build_router(context)],
        background=[dispatcher],
        consumer_options=dict(consumer_options),
    )
