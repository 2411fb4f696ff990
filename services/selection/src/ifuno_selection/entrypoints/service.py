"""The selection service as one runnable definition."""

from __future__ import annotations

from pathlib import Path

from ifuno_shared.events.topics import CONSUMER_GROUPS
from ifuno_shared.messaging import Subscription
from ifuno_shared.persistence.unit_of_work import OnCommit
from ifuno_shared.runtime import ServiceDefinition
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ifuno_selection.config import SelectionSettings
from ifuno_selection.entrypoints.http import build_router
from ifuno_selection.service_layer.handlers import HANDLERS
from ifuno_selection.service_layer.unit_of_work import SelectionUnitOfWork

MIGRATIONS_DIR = Path(__file__).parent.parent / "adapters" / "migrations"


def build_definition(settings: SelectionSettings, **consumer_options: object) -> ServiceDefinition:
    def uow_class(
        session_factory: async_sessionmaker[AsyncSession], on_commit: OnCommit | None
    ) -> SelectionUnitOfWork:
        return SelectionUnitOfWork(session_factory, on_commit, settings)

    return ServiceDefinition(
        name="selection",
        settings=settings,
        migrations_dir=MIGRATIONS_DIR,
        uow_class=uow_class,
        subscriptions=[
            Subscription(
                name="selection",
                topics=list(CONSUMER_GROUPS["selection"]),
                handlers=HANDLERS,
            )
        ],
        routers=lambda context: [build_router(context)],
        consumer_options=dict(consumer_options),
    )
