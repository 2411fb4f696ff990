"""A minimal service used to prove the messaging kit against real servers.

It consumes portal `document_uploaded` events and counts, per event id, how
many times its effect was applied (`probe_effect.applied`: must always be 1),
and publishes one candidature `document_rejected` event per input through the
outbox. A document named `ALWAYS-FAILS` makes its handler raise. It also
applies timeline `clock_advanced` events (an effect keyed `campaign-<year>`) and
stores the first name of portal `application_submitted` events in a column that
PostgreSQL refuses past 40 characters or with a digit: the trust-boundary tests
show what reaches which handler, and that a refused name leaves no trace.
`python -m ifuno_tools.testing.probe_service` runs it as its own process (the
SIGKILL test), configured by IFUNO_PROBE_DATABASE_URL and IFUNO_KAFKA_BOOTSTRAP.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from ifuno_shared.events import CloudEvent, Topic
from ifuno_shared.events.candidature import DocumentRejected
from ifuno_shared.events.portal import ApplicationSubmitted, DocumentUploaded
from ifuno_shared.events.timeline import ClockAdvanced
from ifuno_shared.messaging import Subscription, handlers_by_annotation
from ifuno_shared.persistence import SqlUnitOfWork, add_kit_tables
from ifuno_shared.runtime import ServiceDefinition, ServiceRunner, ServiceSettings, load_settings
from pydantic_settings import SettingsConfigDict
from sqlalchemy import CheckConstraint, Column, Integer, MetaData, String, Table
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

probe_candidate = Table(
    "probe_candidate",
    metadata,
    Column("application_id", String(64), primary_key=True),
    Column("first_name", String(40), nullable=False),
    CheckConstraint("first_name !~ '[0-9]'", name="probe_candidate_name_has_no_digit"),
)

MIGRATIONS_DIR = Path(__file__).with_name("probe_migrations")
ALWAYS_FAILS = "ALWAYS-FAILS"


class ProbeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IFUNO_PROBE_", extra="ignore")


class ProbeUnitOfWork(SqlUnitOfWork):
    pass


async def _record_effect(
    uow: ProbeUnitOfWork, event_id: str, application_id: str, sequence: int
) -> None:
    statement = insert(probe_effect).values(
        event_id=event_id, application_id=application_id, sequence=sequence, applied=1
    )
    await uow.session.execute(
        statement.on_conflict_do_update(
            index_elements=[probe_effect.c.event_id],
            set_={"applied": probe_effect.c.applied + 1},
        )
    )


async def handle_document_uploaded(
    event: CloudEvent[DocumentUploaded], uow: ProbeUnitOfWork
) -> None:
    data = event.data
    if data.document.filename == ALWAYS_FAILS:
        raise RuntimeError(f"this probe handler always fails, here for {data.application_id}")
    sequence = int(data.document.document_id.rsplit("-", 1)[-1])
    await _record_effect(uow, event.id, data.application_id, sequence)
    uow.publish(
        DocumentRejected(
            application_id=data.application_id,
            document_id=data.document.document_id,
            kind=data.document.kind,
            reason="probe",
        ),
        subject=data.application_id,
    )


async def handle_clock_advanced(event: CloudEvent[ClockAdvanced], uow: ProbeUnitOfWork) -> None:
    await _record_effect(uow, event.id, f"campaign-{event.data.campaign}", 0)


async def handle_application_submitted(
    event: CloudEvent[ApplicationSubmitted], uow: ProbeUnitOfWork
) -> None:
    data = event.data
    await uow.session.execute(
        insert(probe_candidate).values(
            application_id=data.application_id, first_name=data.candidate.first_name
        )
    )
    await _record_effect(uow, event.id, data.application_id, 0)


def definition(settings: ServiceSettings, **consumer_options: object) -> ServiceDefinition:
    return ServiceDefinition(
        name="probe",
        settings=settings,
        migrations_dir=MIGRATIONS_DIR,
        uow_class=ProbeUnitOfWork,
        subscriptions=[
            Subscription(
                name="probe",
                topics=[Topic.PORTAL, Topic.TIMELINE],
                handlers=handlers_by_annotation(
                    handle_document_uploaded, handle_clock_advanced, handle_application_submitted
                ),
            )
        ],
        consumer_options=dict(consumer_options),
    )


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings(ProbeSettings)
    # Small deliveries: a kill falls between many committed transactions, not before one.
    options = {"session_timeout_ms": 3000, "max_records": 20}
    runner = ServiceRunner(definition(settings, **options), http=False)
    asyncio.run(runner.serve_forever())


if __name__ == "__main__":
    main()
