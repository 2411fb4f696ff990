"""Trust boundaries against a real PostgreSQL and a real broker, with the probe service:
no record can stop a service, no producer can speak for another, and a record the
database refuses leaves none of the candidate's data in its dead letter or the logs."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ifuno_shared.events import CloudEvent, Topic, encode_event, new_event
from ifuno_shared.events.candidature import ApplicationReceived, Eligibility
from ifuno_shared.events.portal import (
    ApplicationSubmitted,
    Candidate,
    Document,
    DocumentUploaded,
)
from ifuno_shared.events.timeline import ClockAdvanced
from ifuno_shared.runtime import ServiceRunner
from ifuno_tools.testing.kafka import Record, kafka_consume, kafka_produce
from ifuno_tools.testing.probe_service import (
    ProbeSettings,
    definition,
    probe_candidate,
    probe_effect,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

GOLDEN = Path(__file__).with_name("golden")
KEY = "A-1"
"""Every record of a test on one key: one partition, each hostile record in front of
the valid ones behind it."""


def runner_for(database_url: str, bootstrap: str) -> ServiceRunner:
    settings = ProbeSettings(database_url=database_url, kafka_bootstrap=bootstrap, http_port=0)
    return ServiceRunner(
        definition(settings, session_timeout_ms=3000, retry_backoff=0.01), http=False
    )


def upload(application_id: str, sequence: int) -> CloudEvent:
    data = DocumentUploaded(
        application_id=application_id,
        document=Document(
            kind="cv",
            document_id=f"D-{sequence}",
            filename="cv.pdf",
            content_type="application/pdf",
            size_bytes=10,
            sha256="0" * 64,
        ),
    )
    return new_event(data, subject=application_id)


def submitted(application_id: str, first_name: str) -> CloudEvent:
    data = ApplicationSubmitted(
        application_id=application_id,
        campaign=2027,
        level="M1",
        regime="formation_initiale",
        candidate=Candidate(
            candidate_id="C-1",
            first_name=first_name,
            last_name="Lefèvre-Confidentiel",
            email="zoe.confidentielle@example.org",
        ),
        employed=False,
        highest_diploma=None,
        vapp=False,
        training_experience_years=0,
        documents=[],
        submitted_at=datetime(2027, 5, 2, tzinfo=UTC),
    )
    return new_event(data, subject=application_id)


def clock(now: datetime) -> CloudEvent:
    return new_event(ClockAdvanced(campaign=2027, now=now), subject="2027")


def with_changes(event: CloudEvent, **changes: object) -> bytes:
    return json.dumps(json.loads(encode_event(event)) | changes).encode()


async def effects(engine: AsyncEngine) -> dict[str, str]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(probe_effect.c.event_id, probe_effect.c.application_id)
        )
        return {event_id: application_id for event_id, application_id in rows}


async def wait_for(engine: AsyncEngine, event_ids: set[str], timeout: float = 60) -> None:
    async with asyncio.timeout(timeout):
        while not event_ids <= set(await effects(engine)):
            await asyncio.sleep(0.1)


def reasons(dead: list[Record]) -> list[str]:
    return [record.headers["x-error"].decode() for record in dead]


async def test_hostile_records_are_dead_letters_and_the_records_behind_them_flow(
    engine: AsyncEngine, database_url: str, kafka
) -> None:
    golden_submitted = json.loads(
        (GOLDEN / "ifuno.portal.application_submitted.v1.json").read_text()
    )
    golden_submitted["subject"] = golden_submitted["data"]["application_id"] = KEY
    nul_name = json.loads(json.dumps(golden_submitted))
    nul_name["data"]["candidate"]["first_name"] = "Zo\u0000é"
    surrogate = json.dumps(golden_submitted).replace('"first_name": "', '"first_name": "\\ud800')
    hostile: list[tuple[bytes | None, str]] = [
        (b"{not json", "not JSON: "),
        (b"[" * 100_000, "undecodable record (RecursionError)"),
        (b'{"type": ' + b"9" * 10_000 + b"}", "undecodable record (ValueError)"),
        (b'{"type": NaN}', "not JSON: NaN is not a JSON number"),
        (b"\xff\xfe\x00", "not JSON: not UTF-8 (at 0)"),
        (None, "empty record value"),
        (json.dumps(nul_name).encode(), "data.candidate.first_name: must contain no control"),
        (surrogate.encode(), "not JSON: a lone UTF-16 surrogate is not text"),
    ]
    valid = [upload(KEY, n) for n in range(len(hostile) + 1)]
    records: list[tuple[bytes, bytes | None]] = []
    for (value, _), good in zip(hostile, valid, strict=False):
        records += [(KEY.encode(), value), (KEY.encode(), encode_event(good))]
    records.append((KEY.encode(), encode_event(valid[-1])))
    await kafka_produce(kafka.bootstrap, Topic.PORTAL.value, records)
    async with runner_for(database_url, kafka.bootstrap) as runner:
        await wait_for(engine, {event.id for event in valid})
        dead = await kafka_consume(kafka.bootstrap, Topic.DEADLETTER.value, len(hostile))
        late = upload(KEY, 99)
        await kafka_produce(kafka.bootstrap, Topic.PORTAL.value, [(KEY, encode_event(late))])
        await wait_for(engine, {late.id})
        assert runner.consumers[0].consuming, "the service is still up and consuming"
    assert len(dead) == len(hostile)
    for reason, (_, expected) in zip(reasons(dead), hostile, strict=True):
        assert reason.startswith(expected), (reason, expected)
    assert [record.value for record in dead] == [value for value, _ in hostile]
    assert set((await effects(engine)).values()) == {KEY}


async def test_no_producer_speaks_for_another_on_a_real_broker(
    engine: AsyncEngine, database_url: str, kafka
) -> None:
    far_future = datetime(2100, 1, 1, tzinfo=UTC)
    candidature = new_event(
        ApplicationReceived(
            application_id=KEY,
            campaign=2027,
            round="main",
            level="M1",
            regime="formation_initiale",
            missing_documents=[],
            eligibility=Eligibility(eligible=True),
        ),
        subject=KEY,
    )
    portal = [
        (KEY, encode_event(clock(far_future))),  # a timeline type on the portal topic
        (KEY, encode_event(candidature)),  # a candidature type on the portal topic
        (KEY, with_changes(upload(KEY, 1), source="/ifuno/selection")),  # a wrong source
        ("A-2", encode_event(upload(KEY, 2))),  # a key that is not the subject
        (KEY, with_changes(upload(KEY, 3), subject="A-2")),  # a subject that is not the data's
    ]
    timeline = [
        ("2027", with_changes(clock(far_future), source="/ifuno/portal")),
        ("2028", encode_event(clock(far_future))),
    ]
    behind_portal, behind_timeline = upload(KEY, 4), clock(datetime(2027, 6, 1, tzinfo=UTC))
    await kafka_produce(
        kafka.bootstrap,
        Topic.PORTAL.value,
        [(key, value) for key, value in portal] + [(KEY, encode_event(behind_portal))],
    )
    await kafka_produce(
        kafka.bootstrap,
        Topic.TIMELINE.value,
        [(key, value) for key, value in timeline] + [("2027", encode_event(behind_timeline))],
    )
    async with runner_for(database_url, kafka.bootstrap):
        await wait_for(engine, {behind_portal.id, behind_timeline.id})
        dead = await kafka_consume(kafka.bootstrap, Topic.DEADLETTER.value, 7)
    assert sorted(reasons(dead)) == sorted(
        [
            "type ifuno.timeline.clock_advanced.v1 is not accepted on ifuno.portal.v1",
            "type ifuno.candidature.application_received.v1 is not accepted on ifuno.portal.v1",
            "source: ifuno.portal.document_uploaded.v1 is accepted only from /ifuno/portal",
            "key: is not the subject (data.application_id)",
            "subject: is not data.application_id",
            "source: ifuno.timeline.clock_advanced.v1 is accepted only from /ifuno/timeline",
            "key: is not the subject (data.campaign)",
        ]
    )
    assert set(await effects(engine)) == {behind_portal.id, behind_timeline.id}, "nothing else"


async def test_a_name_the_database_refuses_leaves_no_trace_in_dead_letters_or_logs(
    engine: AsyncEngine, database_url: str, kafka, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    too_long = submitted("A-long", "Zoé" + "-Confidentielle" * 4)  # > 40: SQLSTATE 22001
    with_digit = submitted("A-digit", "Zoé2-Confidentielle")  # breaks a check: 23514
    good = submitted("A-good", "Zoé")
    await kafka_produce(
        kafka.bootstrap,
        Topic.PORTAL.value,
        [(e.key, encode_event(e)) for e in (too_long, with_digit, good)],
    )
    async with runner_for(database_url, kafka.bootstrap):
        await wait_for(engine, {good.id})
        dead = await kafka_consume(kafka.bootstrap, Topic.DEADLETTER.value, 2)
    assert sorted(reasons(dead)) == [
        "handler failed 3 times: DBAPIError (SQLSTATE 22001)",
        "handler failed 3 times: IntegrityError (SQLSTATE 23514)",
    ]
    secrets = ("Confidenti", "Zoé", "Lefèvre", "example.org")
    for record in dead:
        for name, value in record.headers.items():
            assert not any(s.encode() in value for s in secrets), (name, value)
    logged = [
        f"{r.name} {r.levelname} {r.getMessage()} {r.exc_text or ''}"
        for r in caplog.records
        if r.levelno >= logging.INFO  # aiokafka's DEBUG lines quote every record it sends
    ]
    assert any("SQLSTATE 23514" in line for line in logged), "the failure is logged"
    leaks = [line for line in logged if any(s in line for s in secrets)]
    assert leaks == []
    async with engine.connect() as connection:
        names = (await connection.execute(select(probe_candidate.c.first_name))).scalars().all()
    assert names == ["Zoé"]
