"""The dashboard as one runnable definition: consumers, dead letters, lag, HTTP."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from ifuno_shared.events.topics import CONSUMER_GROUPS
from ifuno_shared.messaging import Subscription
from ifuno_shared.runtime import ServiceDefinition

from ifuno_dashboard.config import DashboardSettings
from ifuno_dashboard.entrypoints.background import measure_lag, subscribe_dead_letters
from ifuno_dashboard.entrypoints.http import build_router
from ifuno_dashboard.entrypoints.workspace import build_workspace
from ifuno_dashboard.service_layer.handlers import HANDLERS
from ifuno_dashboard.service_layer.unit_of_work import SqlDashboardUnitOfWork

MIGRATIONS_DIR = Path(__file__).parent.parent / "adapters" / "migrations"


def build_definition(settings: DashboardSettings, **consumer_options: object) -> ServiceDefinition:
    """`consumer_options` go to the events' consumer; its session timeout to the dead
    letters' too, so both groups notice a lost member alike (and join as fast)."""
    dead_letter_options = {
        name: value
        for name, value in consumer_options.items()
        if name == "session_timeout_ms" and isinstance(value, int)
    }
    return ServiceDefinition(
        name="dashboard",
        settings=settings,
        migrations_dir=MIGRATIONS_DIR,
        uow_class=SqlDashboardUnitOfWork,
        subscriptions=[
            Subscription(
                name="dashboard",
                topics=list(CONSUMER_GROUPS["dashboard"]),
                handlers=HANDLERS,
            )
        ],
        routers=lambda context: [build_router(context), build_workspace(context)],
        background=[measure_lag],
        subscribers=[partial(subscribe_dead_letters, **dead_letter_options)],
        consumer_options=dict(consumer_options),
    )
