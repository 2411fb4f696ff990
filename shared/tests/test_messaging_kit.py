"""The messaging kit's guarantees, proven against a real PostgreSQL and a real broker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import defaultdict

import pytest
from aiokafka import AIOKafkaProducer
from ifuno_shared.events import Topic, encode_event, new_event
from ifuno_shared.events.candidature import DocumentRejected
from ifuno_shared.events.portal import Document, DocumentUploaded
from ifuno_shared.messaging import OutboxRelay, make_broker
from ifuno_shared.persistence import create_session_factory, outbox_table
from ifuno_shared.runtime import ServiceRunner
from ifuno_tools.testing.kafka import Record, kafka_consume, kafka_produce
from ifuno_tools.testing.probe_service import (
    ALWAYS_FAILS,
    ProbeSettings,
    ProbeUnitOfWork,
    definition,
    probe_effect,
)
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

SHA = "0" * 64


def upload(application_id: str, sequence: int, filename: str = "cv.pdf") -> DocumentUploaded:
    return DocumentUploaded(
        application_id=application_id,
        document=Document(
            kind="cv",
            document_id=f"D-{sequence}",
            filename=filename,
            content_type="application/pdf",
            size_bytes=1000,
            sha256=SHA,
        ),
    )


async def produce(bootstrap: str, records: list[tuple[bytes, bytes]]) -> None:
    await kafka_produce(bootstrap, Topic.PORTAL.value, records)


async def consume(bootstrap: str, topic: Topic, count: int, timeout: float = 30.0) -> list[Record]:
    return await kafka_consume(bootstrap, topic.value, count, timeout)


async def effects(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(probe_effect.c.event_id, probe_effect.c.applied))
        return {event_id: applied for event_id, applied in rows}


async def wait_for_effects(
    engine: AsyncEngine, count: int, timeout: float = 60.0
) -> dict[str, int]:
    async with asyncio.timeout(timeout):
        while len(found := await effects(engine)) < count:
            await asyncio.sleep(0.1)
    return found


def settings_for(database_url: str, bootstrap: str) -> ProbeSettings:
    return ProbeSettings(database_url=database_url, kafka_bootstrap=bootstrap, http_port=0)


async def test_state_and_outbox_commit_together_and_a_rollback_publishes_nothing(
    engine: AsyncEngine, kafka
) -> None:
    session_factory = create_session_factory(engine)

    async def write(application_id: str, commit: bool) -> str:
        async with ProbeUnitOfWork(session_factory) as uow:
            await uow.session.execute(
                probe_effect.insert().values(
                    event_id=application_id, application_id=application_id, sequence=1, applied=1
                )
            )
            event = uow.publish(
                DocumentRejected(
                    application_id=application_id, document_id="D-1", kind="cv", reason="x"
                ),
                subject=application_id,
            )
            if commit:
                await uow.commit()
            return event.id

    committed = await write("A-committed", commit=True)
    await write("A-rolled-back", commit=False)
    with pytest.raises(RuntimeError):
        async with ProbeUnitOfWork(session_factory) as uow:
            uow.publish(
                DocumentRejected(application_id="A-raised", document_id="D", kind="cv", reason="x"),
                subject="A-raised",
            )
            raise RuntimeError("handler failed before commit")

    assert set(await effects(engine)) == {"A-committed"}
    async with engine.connect() as connection:
        outbox_ids = (await connection.execute(select(outbox_table.c.event_id))).scalars().all()
    assert outbox_ids == [committed]

    relay = OutboxRelay("probe", engine, lambda: make_broker(kafka.bootstrap, client_id="t"))
    assert await relay.publish_pending() == 1
    assert await relay.publish_pending() == 0
    await relay.stop()
    records = await consume(kafka.bootstrap, Topic.CANDIDATURE, 1)
    assert [json.loads(r.value)["id"] for r in records] == [committed]
    assert records[0].key == b"A-committed"
    assert records[0].headers["content-type"] == b"application/cloudevents+json"


async def test_events_written_while_the_broker_is_down_all_arrive_in_order_per_key(
    engine: AsyncEngine, kafka
) -> None:
    session_factory = create_session_factory(engine)
    kafka.stop()
    keys = [f"A-{n}" for n in range(5)]
    for sequence in range(100):
        application_id = keys[sequence % len(keys)]
        async with ProbeUnitOfWork(session_factory) as uow:
            uow.publish(
                DocumentRejected(
                    application_id=application_id,
                    document_id=f"D-{sequence}",
                    kind="cv",
                    reason="written while the broker was down",
                ),
                subject=application_id,
            )
            await uow.commit()

    relay = OutboxRelay(
        "probe", engine, lambda: make_broker(kafka.bootstrap, client_id="t"), max_backoff=0.5
    )
    relay_task = asyncio.create_task(relay.run())
    await asyncio.sleep(1.5)  # the relay tries and fails while the broker is away
    async with engine.connect() as connection:
        pending = await connection.scalar(
            select(func.count()).where(outbox_table.c.published_at.is_(None))
        )
    assert pending == 100
    kafka.start()
    records = await consume(kafka.bootstrap, Topic.CANDIDATURE, 100, timeout=60)
    await relay.stop()
    relay_task.cancel()
    await asyncio.gather(relay_task, return_exceptions=True)

    first_seen: dict[str, list[int]] = defaultdict(list)
    seen_ids: set[str] = set()
    for record in records:
        event = json.loads(record.value)
        if event["id"] in seen_ids:
            continue
        seen_ids.add(event["id"])
        first_seen[record.key.decode()].append(int(event["data"]["document_id"][2:]))
    assert len(seen_ids) == 100
    for key in keys:
        assert first_seen[key] == sorted(first_seen[key]), f"events of {key} out of order"
        assert len(first_seen[key]) == 20


async def test_the_same_event_delivered_twice_has_one_effect(
    engine: AsyncEngine, database_url: str, kafka
) -> None:
    event = new_event(upload("A-1", 1), subject="A-1")
    value = encode_event(event)
    await produce(kafka.bootstrap, [(b"A-1", value), (b"A-1", value)])
    runner = ServiceRunner(
        definition(settings_for(database_url, kafka.bootstrap), session_timeout_ms=3000),
        http=False,
    )
    async with runner:
        await wait_for_effects(engine, 1)
        await produce(
            kafka.bootstrap,
            [(b"A-1", value), (b"A-2", encode_event(new_event(upload("A-2", 2), subject="A-2")))],
        )
        found = await wait_for_effects(engine, 2)
    assert found[event.id] == 1
    async with engine.connect() as connection:
        published = await connection.scalar(select(func.count()).select_from(outbox_table))
    assert published == 2


async def test_a_batch_claims_each_new_event_once_in_one_statement(engine: AsyncEngine) -> None:
    session_factory = create_session_factory(engine)
    async with ProbeUnitOfWork(session_factory) as uow:
        assert await uow.claim_inbox("probe", "E-1")
        await uow.commit()
    async with ProbeUnitOfWork(session_factory) as uow:
        claimed = await uow.claim_inbox_many("probe", ["E-1", "E-2", "E-3", "E-2"])
        assert claimed == {"E-2", "E-3"}
        assert await uow.claim_inbox_many("other-consumer", ["E-1"]) == {"E-1"}
        assert await uow.claim_inbox_many("probe", []) == set()
        await uow.commit()
    async with ProbeUnitOfWork(session_factory) as uow:
        assert await uow.claim_inbox_many("probe", ["E-3", "E-4"]) == {"E-4"}


async def test_poison_messages_are_dead_lettered_and_the_messages_behind_them_processed(
    engine: AsyncEngine, database_url: str, kafka
) -> None:
    def valid(sequence: int) -> bytes:
        return encode_event(new_event(upload("A-1", sequence), subject="A-1"))

    good = new_event(upload("A-1", 9), subject="A-1")
    unknown_type = json.loads(encode_event(good))
    unknown_type.update(id="u-1", type="ifuno.portal.something_else.v1")
    invalid_data = json.loads(encode_event(good))
    invalid_data.update(id="i-1")
    invalid_data["data"]["document"]["kind"] = "passport"
    always_fails = encode_event(new_event(upload("A-1", 5, ALWAYS_FAILS), subject="A-1"))
    key = b"A-1"  # one key: one partition, so each poison record stands in front of a valid one
    await produce(
        kafka.bootstrap,
        [
            (key, b"{not json"),
            (key, valid(1)),
            (key, json.dumps(unknown_type).encode()),
            (key, valid(2)),
            (key, json.dumps(invalid_data).encode()),
            (key, valid(3)),
            (key, always_fails),
            (key, valid(4)),
        ],
    )
    runner = ServiceRunner(
        definition(
            settings_for(database_url, kafka.bootstrap),
            session_timeout_ms=3000,
            retry_backoff=0.01,
        ),
        http=False,
    )
    async with runner:
        await wait_for_effects(engine, 4)
        dead = await consume(kafka.bootstrap, Topic.DEADLETTER, 4)
    errors = [record.headers["x-error"].decode() for record in dead]
    assert errors[0].startswith("not JSON")
    assert "unknown event type" in errors[1]
    assert errors[2].startswith("data.document.kind")
    assert errors[3] == "handler failed 3 times: RuntimeError", "the class, never the message"
    assert dead[0].value == b"{not json"
    assert all(record.key == key for record in dead)
    for record in dead:
        headers = record.headers
        assert headers["x-original-topic"] == b"ifuno.portal.v1"
        assert headers["x-consumer"] == b"probe"
        assert int(headers["x-original-offset"]) >= 0
        assert int(headers["x-original-partition"]) >= 0
    async with engine.connect() as connection:
        sequences = (
            (
                await connection.execute(
                    select(probe_effect.c.sequence).order_by(probe_effect.c.sequence)
                )
            )
            .scalars()
            .all()
        )
    assert sequences == [1, 2, 3, 4]


async def test_a_consumer_killed_mid_stream_loses_nothing_and_applies_nothing_twice(
    engine: AsyncEngine, database_url: str, kafka
) -> None:
    total = 400
    await produce(
        kafka.bootstrap,
        [
            (
                f"A-{n % 7}".encode(),
                encode_event(new_event(upload(f"A-{n % 7}", n), subject=f"A-{n % 7}")),
            )
            for n in range(total)
        ],
    )
    environment = {
        **os.environ,
        "IFUNO_PROBE_DATABASE_URL": database_url,
        "IFUNO_KAFKA_BOOTSTRAP": kafka.bootstrap,
    }

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "ifuno_tools.testing.probe_service"], env=environment
        )

    process = start()
    try:
        async with asyncio.timeout(60):
            while len(await effects(engine)) < 30:
                await asyncio.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait()
        applied_before_restart = len(await effects(engine))
        assert applied_before_restart < total, "the consumer finished before it could be killed"
        process = start()
        found = await wait_for_effects(engine, total, timeout=120)
    finally:
        process.kill()
        process.wait()
    assert len(found) == total
    assert set(found.values()) == {1}
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM inbox")) == total


async def test_a_batch_mixing_partitions_with_a_poison_record_in_one_loses_nothing(
    engine: AsyncEngine, database_url: str, kafka
) -> None:
    """FastStream hands the kit one batch of every partition's records: each partition
    is applied in its own transaction, so the poison record of partition 1 (with a
    header that is not even UTF-8) costs only itself, and partition 0 is untouched."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for sequence in range(1, 7):
            partition = sequence % 2
            key = f"A-{partition}".encode()
            value = encode_event(new_event(upload(key.decode(), sequence), subject=key.decode()))
            await producer.send_and_wait(Topic.PORTAL.value, value, key=key, partition=partition)
            if sequence == 3:
                await producer.send_and_wait(
                    Topic.PORTAL.value,
                    b"[" * 50,
                    key=b"A-1",
                    partition=1,
                    headers=[("content-type", b"\xff\xfe")],
                )
    finally:
        await producer.stop()
    runner = ServiceRunner(
        definition(settings_for(database_url, kafka.bootstrap), session_timeout_ms=3000),
        http=False,
    )
    async with runner:
        found = await wait_for_effects(engine, 6)
        dead = await consume(kafka.bootstrap, Topic.DEADLETTER, 1)
    assert set(found.values()) == {1}
    assert dead[0].value == b"[" * 50
    assert dead[0].headers["x-original-partition"] == b"1"
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(probe_effect.c.application_id, probe_effect.c.sequence).order_by(
                probe_effect.c.sequence
            )
        )
        applied = [tuple(row) for row in rows]
    assert applied == [("A-1", 1), ("A-0", 2), ("A-1", 3), ("A-0", 4), ("A-1", 5), ("A-0", 6)]
    async with ServiceRunner(
        definition(settings_for(database_url, kafka.bootstrap), session_timeout_ms=3000),
        http=False,
    ) as again:
        await asyncio.wait_for(again.wait_until_consuming(), 30)
        await asyncio.sleep(1)
    assert set((await effects(engine)).values()) == {1}, "offsets were committed: no replay"


async def test_one_relay_publishes_at_a_time_and_none_holds_a_transaction_open(
    engine: AsyncEngine, kafka
) -> None:
    """The publishing lock is a session lock on an idle connection: a second relay of
    the service publishes nothing while the first holds it, and no connection sits
    idle in a transaction between (or during) batches."""
    session_factory = create_session_factory(engine)
    first = OutboxRelay("probe", engine, lambda: make_broker(kafka.bootstrap, client_id="a"))
    second = OutboxRelay("probe", engine, lambda: make_broker(kafka.bootstrap, client_id="b"))
    for n in range(3):
        async with ProbeUnitOfWork(session_factory) as uow:
            uow.publish(
                DocumentRejected(application_id="A-1", document_id=f"D-{n}", kind="cv", reason="x"),
                subject="A-1",
            )
            await uow.commit()
        if n == 0:
            assert await first.publish_pending() == 1  # takes the lock, keeps it
        else:
            assert await second.publish_pending() == 0, "the first relay holds the lock"
            assert await first.publish_pending() == 1
        async with engine.connect() as connection:
            states = await connection.scalars(
                text(
                    "SELECT state FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            assert "idle in transaction" not in set(states)
    await first.drain(timeout=5.0)
    await second.stop()
    async with ProbeUnitOfWork(session_factory) as uow:
        uow.publish(
            DocumentRejected(application_id="A-1", document_id="D-9", kind="cv", reason="x"),
            subject="A-1",
        )
        await uow.commit()
    assert await second.publish_pending() == 1, "the lock is free once the first relay left"
    await second.drain(timeout=5.0)
    records = await consume(kafka.bootstrap, Topic.CANDIDATURE, 4)
    assert [json.loads(r.value)["data"]["document_id"] for r in records] == [
        "D-0",
        "D-1",
        "D-2",
        "D-9",
    ]
