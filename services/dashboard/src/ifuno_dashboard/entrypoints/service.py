"""The dashboard as one runnable definition: consumers, dead letters, lag, HTTP."""

from __future__ import annotations

from pathlib import Path

from ifuno_shared.events import Topic
from ifuno_shared.messaging import Subscription
from ifuno_shared.runtime import ServiceDefinition

from ifuno_dashboard.config import DashboardSettings
from ifuno_dashboard.entrypoints.background import consume_dead_letters, measure_lag
from ifuno_dashboard.entrypoints.http import build_router
from ifuno_dashboard.service_layer.handlers import HANDLERS
from ifuno_dashboard.service_layer.unit_of_work import SqlDashboardUnitOfWork

MIGRATIONS_DIR = Path(__file__).parent.parent / "adapters" / "migrations"


def build_definition(settings: DashboardSettings, **consumer_options: object) -> ServiceDefinition:
    return ServiceDefinition(
        name="dashboard",
        settings=settings,
        migrations_dir=MIGRATIONS_DIR,
        uow_class=SqlDashboardUnitOfWork,
        subscriptions=[
            Subscription(
                name="dashboard",
                topics=[Topic.CANDIDATURE, Topic.SELECTION, Topic.NOTIFICATION, Topic.TIMELINE],
                handlers=HANDLERS,
            )
        ],
        routers=lambda context: [build_router(context)],
        background=[consume_dead_letters, measure_lag],
        consumer_options=dict(consumer_options),
    )
