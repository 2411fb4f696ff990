"""The local servers the tests and the demo run on: each does what the others rely on."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import asyncpg
import httpx
import psutil
import pytest
from aiokafka import AIOKafkaConsumer
from ifuno_shared.events import PUBLIC_TOPICS
from ifuno_tools.local import (
    CapturingSmtpServer,
    FakeSmsGateway,
    LocalKafkaBroker,
    LocalPostgres,
    PostgresAdmin,
)
from ifuno_tools.local.lifetime import reap_orphaned_postgres
from ifuno_tools.local.ports import port_accepts
from ifuno_tools.local.stack import SERVICES, LocalInfrastructure
from ifuno_tools.testing.kafka import kafka_consume, kafka_produce, kafka_read_all
from ifuno_tools.testing.pytest_plugin import ExternalKafkaBroker
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

pytestmark = pytest.mark.integration


async def scalar(url: str, query: str) -> object:
    """Run one statement through SQLAlchemy's asyncpg dialect; its first value, if any."""
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            result = await connection.execute(text(query))
            return result.scalar() if result.returns_rows else None
    finally:
        await engine.dispose()


# --- PostgreSQL ----------------------------------------------------------------------


async def test_each_test_database_is_fresh_and_isolated(
    postgres: PostgresAdmin, database_url: str
) -> None:
    assert database_url.startswith("postgresql+asyncpg://")
    await scalar(database_url, "CREATE TABLE applications (id text PRIMARY KEY)")
    await scalar(database_url, "INSERT INTO applications VALUES ('A-1')")
    assert await scalar(database_url, "SELECT count(*) FROM applications") == 1

    other = await postgres.create_database("test_isolation_other")
    try:
        assert await scalar(other, "SELECT to_regclass('applications') IS NULL") is True
        assert await postgres.create_database("test_isolation_other") == other  # idempotent
    finally:
        await postgres.drop_database("test_isolation_other")


async def test_a_local_server_gives_socket_urls_that_asyncpg_and_sqlalchemy_accept(
    tmp_path: Path,
) -> None:
    server = LocalPostgres(tmp_path / "pgdata")
    server.start()
    try:
        url = server.create_database("candidature")
        assert server.create_database("candidature") == url  # idempotent
        assert url == f"postgresql+asyncpg://postgres@/candidature?host={server.socket_dir}"
        assert await scalar(url, "SELECT current_database()") == "candidature"

        connection = await asyncpg.connect(server.dsn("candidature"))
        try:
            assert await connection.fetchval("SHOW fsync") == "off"  # a test server
            assert await connection.fetchval("SHOW max_connections") == "300"
        finally:
            await connection.close()

        started = time.perf_counter()
        names = [f"many_{n}" for n in range(10)]
        urls = await server.create_databases(names)
        assert time.perf_counter() - started < 10
        assert [await scalar(u, "SELECT current_database()") for u in urls[:2]] == names[:2]
    finally:
        server.stop()
    assert not (tmp_path / "pgdata").exists()


async def test_a_database_can_be_copied_from_a_migrated_template(postgres: PostgresAdmin) -> None:
    template = await postgres.create_database("test_template_source")
    try:
        await scalar(template, "CREATE TABLE inbox (event_id text PRIMARY KEY)")
        copy = await postgres.create_database("test_template_copy", template="test_template_source")
        assert await scalar(copy, "SELECT count(*) FROM inbox") == 0
    finally:
        await postgres.drop_database("test_template_copy")
        await postgres.drop_database("test_template_source")


# --- the broker ----------------------------------------------------------------------


async def test_the_broker_round_trips_a_record_with_its_key_and_headers(
    kafka: LocalKafkaBroker | ExternalKafkaBroker, unique: str
) -> None:
    topic = f"applications-{unique}"  # unique: the broker may be a shared one
    await kafka.create_topics([topic], partitions=3)
    await kafka_produce(kafka.bootstrap, topic, [(b"A-1", b'{"n": 1}')], headers={"trace": "t-1"})
    [record] = await kafka_consume(kafka.bootstrap, topic, 1, timeout=10)
    assert (record.key, record.value) == (b"A-1", b'{"n": 1}')
    assert record.headers["trace"] == b"t-1"
    assert record.headers["content-type"] == b"application/cloudevents+json"
    assert [r.value for r in await kafka_read_all(kafka.bootstrap, topic)] == [b'{"n": 1}']


async def test_the_broker_stops_and_starts_again_on_the_same_port(
    kafka: LocalKafkaBroker,
) -> None:
    bootstrap = kafka.bootstrap
    kafka.stop()
    assert not port_accepts(kafka.port)
    kafka.start()
    assert kafka.bootstrap == bootstrap
    await kafka.create_topics(["after-restart"])
    await kafka_produce(kafka.bootstrap, "after-restart", [(b"k", b"v")])
    assert len(await kafka_consume(kafka.bootstrap, "after-restart", 1, timeout=10)) == 1

    kafka.kill()  # a crash, then back
    assert not port_accepts(kafka.port)
    kafka.start()
    assert port_accepts(kafka.port)


async def test_a_durable_broker_keeps_records_across_a_restart(
    durable_kafka: LocalKafkaBroker,
) -> None:
    await durable_kafka.create_topics(["durable"], partitions=1)
    await kafka_produce(durable_kafka.bootstrap, "durable", [(b"k", b"kept")])
    durable_kafka.stop()
    durable_kafka.start()
    [record] = await kafka_consume(durable_kafka.bootstrap, "durable", 1, timeout=10)
    assert record.value == b"kept"


# --- SMTP and SMS --------------------------------------------------------------------


def mail(to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@example.org", to, "Objet accentué"
    message.set_content("Bonjour")
    return message


async def test_the_smtp_server_captures_refuses_and_comes_back_on_its_port(
    smtp_server: CapturingSmtpServer,
) -> None:
    smtp_server.reject("nobody@*")
    await aiosmtplib.send(mail("zoe@example.org"), hostname=smtp_server.host, port=smtp_server.port)
    [captured] = await smtp_server.wait_for(1, timeout=5)
    assert captured.mail_from == "a@example.org"
    assert captured.recipients == ("zoe@example.org",)
    assert captured.message.get_content().strip() == "Bonjour"

    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await aiosmtplib.send(
            mail("nobody@example.org"), hostname=smtp_server.host, port=smtp_server.port
        )
    assert refused.value.recipients[0].code == 550

    smtp_server.stop()
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await aiosmtplib.send(
            mail("zoe@example.org"), hostname=smtp_server.host, port=smtp_server.port
        )
    smtp_server.start()
    await aiosmtplib.send(mail("zoe@example.org"), hostname=smtp_server.host, port=smtp_server.port)
    assert [str(m["Subject"]) for m in smtp_server.to("zoe@example.org")] == ["Objet accentué"] * 2
    assert len(list((smtp_server.folder or Path()).glob("*.eml"))) == 2


async def test_the_sms_gateway_deduplicates_fails_on_request_and_refuses_numbers(
    sms_gateway: FakeSmsGateway,
) -> None:
    auth = {"Authorization": f"Bearer {sms_gateway.token}"}
    body = {"to": "+33611223344", "text": "Dossier complet", "idempotency_key": "ev-1"}
    async with httpx.AsyncClient(base_url=sms_gateway.url) as client:
        first = await client.post("/messages", json=body, headers=auth)
        again = await client.post("/messages", json=body, headers=auth)
        assert (first.status_code, again.status_code) == (202, 202)
        assert first.json()["id"] == again.json()["id"]
        assert len(sms_gateway.messages) == 1

        sms_gateway.fail_next(2)
        other = {**body, "idempotency_key": "ev-2"}
        statuses = [(await client.post("/messages", json=other, headers=auth)).status_code]
        statuses += [(await client.post("/messages", json=other, headers=auth)).status_code]
        statuses += [(await client.post("/messages", json=other, headers=auth)).status_code]
        assert statuses == [503, 503, 202]

        sms_gateway.reject("+3399*")
        refused = {**body, "to": "+33999999999", "idempotency_key": "ev-3"}
        assert (await client.post("/messages", json=refused, headers=auth)).status_code == 422
        assert (await client.post("/messages", json=body)).status_code == 401
        assert (await client.post("/messages", json={"to": "+1"}, headers=auth)).status_code == 422

    sms_gateway.stop()
    sms_gateway.start()  # same port
    async with httpx.AsyncClient(base_url=sms_gateway.url) as client:
        assert (await client.post("/messages", json=body, headers=auth)).status_code == 202
    assert [m.idempotency_key for m in sms_gateway.messages] == ["ev-1", "ev-2"]


# --- everything at once, and nothing left behind ------------------------------------


async def test_the_whole_stack_starts_with_one_call(tmp_path: Path) -> None:
    infrastructure = LocalInfrastructure(tmp_path / "infrastructure")
    environment = await asyncio.to_thread(infrastructure.start)
    try:
        for service in SERVICES:
            url = environment[f"IFUNO_{service.upper()}_DATABASE_URL"]
            assert await scalar(url, "SELECT current_database()") == service
        assert environment["IFUNO_KAFKA_BOOTSTRAP"] == infrastructure.broker.bootstrap
        assert port_accepts(int(environment["IFUNO_SMTP_PORT"]))
        assert environment["IFUNO_SMS_GATEWAY_URL"] == infrastructure.sms.url
        consumer = AIOKafkaConsumer(bootstrap_servers=infrastructure.broker.bootstrap)
        await consumer.start()
        try:
            assert {t.value for t in PUBLIC_TOPICS} <= await consumer.topics()
            for topic in PUBLIC_TOPICS:
                assert consumer.partitions_for_topic(topic.value) == {0, 1, 2}
        finally:
            await consumer.stop()
    finally:
        await asyncio.to_thread(infrastructure.stop)
    assert not port_accepts(infrastructure.broker.port)


def test_the_command_line_prints_settings_and_stops_everything_on_sigterm(
    tmp_path: Path,
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "ifuno_tools.local", str(tmp_path / "infra")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines: dict[str, str] = {}
        while "IFUNO_DASHBOARD_DATABASE_URL" not in lines:
            line = process.stdout.readline()
            assert line, "the command ended before printing its settings"
            if line.startswith("export "):
                name, _, value = line.removeprefix("export ").strip().partition("=")
                lines[name] = value
        assert {"IFUNO_KAFKA_BOOTSTRAP", "IFUNO_SMTP_HOST", "IFUNO_SMTP_PORT"} <= set(lines)
        assert "IFUNO_SMS_GATEWAY_URL" in lines
        children = psutil.Process(process.pid).children(recursive=True)
        assert children  # the broker
        kafka_port = int(lines["IFUNO_KAFKA_BOOTSTRAP"].rpartition(":")[2])
        assert port_accepts(kafka_port)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert process.returncode == 0
    assert not port_accepts(kafka_port)
    assert not (tmp_path / "infra" / "postgres").exists()  # stopped and deleted


def test_servers_do_not_outlive_a_killed_owner(tmp_path: Path) -> None:
    """SIGKILL leaves no atexit: the broker dies with its owner (PDEATHSIG), and the
    next LocalPostgres start stops the orphaned PostgreSQL."""
    owner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import json, sys, time\n"
            "from pathlib import Path\n"
            "from ifuno_tools.local import LocalKafkaBroker, LocalPostgres\n"
            "broker = LocalKafkaBroker(); broker.start()\n"
            f"pg = LocalPostgres(Path({str(tmp_path / 'pg')!r})); pg.start()\n"
            "pid = int((pg.data_dir / 'postmaster.pid').read_text().split()[0])\n"
            "print(json.dumps([broker.pid, pid]), flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert owner.stdout is not None
    broker_pid, postmaster_pid = json.loads(owner.stdout.readline())
    owner.kill()
    owner.wait()

    deadline = time.monotonic() + 5
    while _alive(broker_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(broker_pid)

    assert _alive(postmaster_pid)
    assert reap_orphaned_postgres() >= 1
    assert not _alive(postmaster_pid)
    assert not (tmp_path / "pg").exists()


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
