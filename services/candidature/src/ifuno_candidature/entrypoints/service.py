"""The candidature service as one runnable definition."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from pathlib import Path

from ifuno_shared.events.topics import CONSUMER_GROUPS
from ifuno_shared.messaging import Subscription
from ifuno_shared.runtime import ServiceDefinition

from ifuno_candidature.config import CandidatureSettings
from ifuno_candidature.entrypoints.http import build_router
from ifuno_candidature.service_layer.handlers import HANDLERS
from ifuno_candidature.service_layer.unit_of_work import SqlCandidatureUnitOfWork

MIGRATIONS_DIR = Path(__file__).parent.parent / "adapters" / "migrations"


def build_definition(
    settings: CandidatureSettings, **consumer_options: object
) -> ServiceDefinition:
    return ServiceDefinition(
        name="candidature",
        settings=settings,
        migrations_dir=MIGRATIONS_DIR,
        uow_class=partial(
            SqlCandidatureUnitOfWork,
            grace=timedelta(minutes=settings.grace_minutes),
            retention_until=settings.retention_until,
        ),
        subscriptions=[
            Subscription(
                name="candidature",
                topics=list(CONSUMER_GROUPS["candidature"]),
                handlers=HANDLERS,
            )
        ],
        routers=lambda context: [build_router(context)],
        consumer_options=dict(consumer_options),
    )
