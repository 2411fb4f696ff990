"""A minimal service used to prove the messaging kit against real servers.

It consumes portal `document_uploaded` events and counts, per event id, how
many times its effect was applied (`probe_effect.applied`: must always be 1),
and publishes one candidature `document_rejected` event per input through the
outbox. `python -m ifuno_tools.testing.probe_service` runs it as its own
process (the SIGKILL test), configured by IFUNO_PROBE_DATABASE_URL and
IFUNO_KAFKA_BOOTSTRAP.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from ifuno_shared.events import CloudEvent, Topic
from ifuno_shared.events.candidature import DocumentRejected
from ifuno_shared.events.portal import DocumentUploaded
from ifuno_shared.messaging import Subscription, handlers_by_annotation
from ifuno_shared.persistence import SqlUnitOfWork, add_kit_tables
from ifuno_shared.runtime import ServiceDefinition, ServiceRunner, ServiceSettings, load_settings
from pydantic_settings import SettingsConfigDict
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.dialects.postgresql import insert

metadata = MetaData()
add_kit_tables(metadata)
probe_effect = Table(
    "probe_effect",
    metadata,
    Column("event_id", String(200), primary_key=True),
    Column("application_id", String(64), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("applied", Integer, nullable=False),
)

MIGRATIONS_DIR = Path(__file__).with_name("probe_migrations")
ALWAYS_FAILS = "ALWAYS-FAILS"


class ProbeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IFUNO_PROBE_", extra="ignore")


class ProbeUnitOfWork(SqlUnitOfWork):
    pass


async def handle_document_uploaded(
    event: CloudEvent[DocumentUploaded], uow: ProbeUnitOfWork
) -> None:
    data = event.data
    if data.application_id == ALWAYS_FAILS:
        raise RuntimeError("this probe handler always fails for this application")
    sequence = int(data.document.document_id.rsplit("-", 1)[-1])
    statement = insert(probe_effect).values(
        event_id=event.id, application_id=data.application_id, sequence=sequence, applied=1
    )
    await uow.session.execute(
        statement.on_conflict_do_update(
            index_elements=[probe_effect.c.event_id],
            set_={"applied": probe_effect.c.applied + 1},
        )
    )
    uow.publish(
        DocumentRejected(
            application_id=data.application_id,
            document_id=data.document.document_id,
            kind=data.document.kind,
            reason="probe",
        ),
        subject=data.application_id,
    )


def definition(settings: ServiceSettings, **consumer_options: object) -> ServiceDefinition:
    return ServiceDefinition(
        name="probe",
        settings=settings,
        migrations_dir=MIGRATIONS_DIR,
        uow_class=ProbeUnitOfWork,
        subscriptions=[
            Subscription(
                name="probe",
                topics=[Topic.PORTAL],
                handlers=handlers_by_annotation(handle_document_uploaded),
            )
        ],
        consumer_options=dict(consumer_options),
    )


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings(ProbeSettings)
    runner = ServiceRunner(definition(settings, session_timeout_ms=3000), http=False)
    asyncio.run(runner.serve_forever())


if __name__ == "__main__":
    main()
