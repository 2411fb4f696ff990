"""The dispatcher under faults, on PostgreSQL and a real SMTP server: a killed process,
a stopped one, a lost database connection, a connection failing unexpectedly.

Copies are counted at the SMTP server by Message-ID (the message's id): a message
sent twice arrives twice with the same one. The hooks run inside the server's
`DATA` handler, after it kept the message and before it answers: there the client
cannot know the message was accepted, the worst moment for a fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from ifuno_notification.adapters.repository import OutgoingMessage
from ifuno_notification.adapters.senders import AbstractSmsSender, Email, SmtpEmailSender
from ifuno_notification.adapters.tables import delivery_attempt, message
from ifuno_notification.entrypoints.service import MIGRATIONS_DIR
from ifuno_notification.service_layer.dispatcher import dispatch_due, run_dispatcher
from ifuno_notification.service_layer.unit_of_work import SqlNotificationUnitOfWork
from ifuno_shared.persistence import create_engine, create_session_factory
from ifuno_shared.persistence.engine import async_url
from ifuno_tools.local import CapturingSmtpServer
from ifuno_tools.local.smtp import CapturedMail
from ifuno_tools.testing.database import migrated_sessions
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

pytestmark = pytest.mark.integration

LEASE = timedelta(seconds=2)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with migrated_sessions(database_url, MIGRATIONS_DIR) as factory:
        yield factory


def address(application_id: str) -> str:
    return f"{application_id.lower()}@example.org"


async def record(sessions: async_sessionmaker[AsyncSession], prefix: str, count: int) -> None:
    """`count` emails due now, one per application."""
    async with SqlNotificationUnitOfWork(sessions) as uow:
        for n in range(count):
            application_id = f"{prefix}-{n}"
            await uow.notifications.add_message(
                OutgoingMessage(
                    application_id,
                    str(uuid.uuid4()),
                    "email",
                    "application_received",
                    address(application_id),
                    "Votre candidature au master IFUNO a bien été reçue",
                    "Bonjour,",
                    None,
                )
            )
        await uow.commit()


async def stored(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """Each message's status, by id."""
    async with sessions() as session:
        rows = await session.execute(select(message.c.id, message.c.status))
        return {row.id: row.status for row in rows}


async def outcomes_of(sessions: async_sessionmaker[AsyncSession], message_id: str) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(
            select(delivery_attempt.c.outcome)
            .where(delivery_attempt.c.message_id == message_id)
            .order_by(delivery_attempt.c.id)
        )
        return list(rows.scalars())


def copies(smtp: CapturingSmtpServer) -> Counter[str]:
    """How many times the server accepted each message, by message id."""
    return Counter(
        str(mail.message["Message-ID"]).strip("<>").split("@")[0] for mail in smtp.messages
    )


def on_accept(smtp: CapturingSmtpServer, hook: Callable[[int], None], delay: float = 0.0) -> None:
    """Run `hook(messages accepted so far)` as the server keeps each message, before it
    answers; take `delay` seconds per message (so that a claim is sent over a while)."""
    keep = smtp._accept

    def accept(mail: CapturedMail, content: bytes) -> None:
        time.sleep(delay)
        keep(mail, content)
        hook(len(smtp.messages))

    smtp._accept = accept  # type: ignore[method-assign]


class NoSms(AbstractSmsSender):
    async def send(self, message_id: str, to: str, text: str) -> None:
        raise AssertionError("no SMS here")


def sender(smtp: CapturingSmtpServer) -> SmtpEmailSender:
    return SmtpEmailSender(smtp.host, smtp.port, "Master IFUNO <ifuno@example.org>")


async def until_all_sent(
    sessions: async_sessionmaker[AsyncSession], count: int, timeout: float = 30.0
) -> None:
    async with asyncio.timeout(timeout):
        while list((await stored(sessions)).values()).count("sent") < count:
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def dispatching(
    sessions: async_sessionmaker[AsyncSession], smtp: CapturingSmtpServer, connections: int = 2
) -> AsyncIterator[None]:
    """The service's dispatcher loop in this process, stopped on exit."""
    task = asyncio.create_task(
        run_dispatcher(
            lambda: SqlNotificationUnitOfWork(sessions),
            sender(smtp),
            NoSms(),
            interval=0.05,
            connections=connections,
            lease=LEASE,
        )
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def start_service(
    database_url: str, kafka_bootstrap: str, smtp: CapturingSmtpServer, connections: int, log: Path
) -> subprocess.Popen[bytes]:
    """`ifuno-notification run` in its own process."""
    environment = {
        **os.environ,
        "IFUNO_NOTIFICATION_DATABASE_URL": database_url,
        "IFUNO_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "IFUNO_NOTIFICATION_HTTP_PORT": "0",
        "IFUNO_SMTP_HOST": smtp.host,
        "IFUNO_SMTP_PORT": str(smtp.port),
        "IFUNO_NOTIFICATION_SMTP_CONNECTIONS": str(connections),
        "IFUNO_NOTIFICATION_CLAIM_LEASE": str(LEASE.total_seconds()),
        "IFUNO_NOTIFICATION_DISPATCH_INTERVAL": "0.05",
    }
    with log.open("wb") as output:
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from ifuno_notification.entrypoints.cli import main; main(['run'])",
            ],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


async def exited(process: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
    return await asyncio.to_thread(process.wait, timeout)


@pytest.mark.parametrize("connections", [1, 3])
async def test_a_killed_dispatcher_resends_at_most_one_message_per_connection(
    connections: int,
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    kafka,
    smtp_server: CapturingSmtpServer,
    tmp_path: Path,
) -> None:
    await record(sessions, "K", 30)
    service = start_service(
        database_url, kafka.bootstrap, smtp_server, connections, tmp_path / "service.log"
    )
    try:

        def kill_at_the_tenth(accepted: int) -> None:
            if accepted == 10:
                os.kill(service.pid, signal.SIGKILL)

        on_accept(smtp_server, kill_at_the_tenth, delay=0.02)
        assert await exited(service) == -signal.SIGKILL
    finally:
        service.kill()
    on_accept(smtp_server, lambda accepted: None)
    statuses = await stored(sessions)
    assert "sending" in statuses.values()  # claimed by the dead process, not sent again yet
    async with dispatching(sessions, smtp_server, connections):
        await until_all_sent(sessions, 30)
    sent = copies(smtp_server)
    assert set(sent) == set(statuses)  # nothing lost
    resent = [message_id for message_id, count in sent.items() if count > 1]
    # The tenth had reached the server but not its answer: it goes out again, and at
    # most one message of each other connection with it.
    assert 1 <= len(resent) <= connections
    assert max(sent.values()) == 2
    for message_id in resent:
        assert (await outcomes_of(sessions, message_id)) == ["interrupted", "sent"]


async def test_a_stopped_service_finishes_and_records_what_it_is_sending_and_resends_nothing(
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    kafka,
    smtp_server: CapturingSmtpServer,
    tmp_path: Path,
) -> None:
    await record(sessions, "T", 30)
    service = start_service(database_url, kafka.bootstrap, smtp_server, 3, tmp_path / "service.log")
    try:

        def stop_at_the_eighth(accepted: int) -> None:
            if accepted == 8:
                os.kill(service.pid, signal.SIGTERM)

        on_accept(smtp_server, stop_at_the_eighth, delay=0.05)
        assert await exited(service) == 0
    finally:
        service.kill()
    on_accept(smtp_server, lambda accepted: None)
    statuses = await stored(sessions)
    accepted = copies(smtp_server)
    assert 8 <= len(accepted) < 30
    assert all(statuses[message_id] == "sent" for message_id in accepted)
    assert {statuses[i] for i in set(statuses) - set(accepted)} == {"pending"}
    async with dispatching(sessions, smtp_server):
        await until_all_sent(sessions, 30)
    assert copies(smtp_server) == Counter(dict.fromkeys(statuses, 1))


async def test_a_lost_database_connection_before_a_settle_loses_nothing_and_resends_nothing(
    database_url: str, sessions: async_sessionmaker[AsyncSession], smtp_server: CapturingSmtpServer
) -> None:
    await record(sessions, "P", 20)
    terminated: list[int] = []
    # The dispatcher's own connections, named, so that only they are cut.
    engine = create_async_engine(
        async_url(database_url),
        connect_args={"server_settings": {"application_name": "dispatcher-under-test"}},
    )

    async def terminate_the_dispatchers_connections() -> None:
        engine = create_engine(database_url)
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE application_name = 'dispatcher-under-test'"
                    )
                )
                terminated.append(len(rows.all()))
        finally:
            await engine.dispose()

    def terminate_at(accepted: int) -> None:
        if accepted in (5, 12):
            # The server's own event loop is busy answering: a loop of its own.
            worker = threading.Thread(
                target=asyncio.run, args=(terminate_the_dispatchers_connections(),)
            )
            worker.start()
            worker.join()

    on_accept(smtp_server, terminate_at, delay=0.01)
    try:
        async with dispatching(create_session_factory(engine), smtp_server):
            await until_all_sent(sessions, 20)
    finally:
        await engine.dispose()
    assert len(terminated) == 2 and all(terminated)
    sent = copies(smtp_server)
    assert set(sent) == set(await stored(sessions))
    assert sum(count - 1 for count in sent.values()) <= 1


class FaultyOnce(SmtpEmailSender):
    """Builds one message wrongly, once: an error nobody planned for, on one connection."""

    def __init__(self, smtp: CapturingSmtpServer, faulty: str) -> None:
        super().__init__(smtp.host, smtp.port, "Master IFUNO <ifuno@example.org>")
        self.faulty = faulty
        self.built: Counter[str] = Counter()

    def build(self, email: Email) -> bytes:
        self.built[email.to] += 1
        if email.to == self.faulty and self.built[email.to] == 1:
            raise ValueError("a bug")
        return super().build(email)


async def test_an_unexpected_error_on_one_connection_retries_that_message_only(
    sessions: async_sessionmaker[AsyncSession], smtp_server: CapturingSmtpServer
) -> None:
    await record(sessions, "U", 6)
    email = FaultyOnce(smtp_server, address("U-2"))
    factory = lambda: SqlNotificationUnitOfWork(sessions)  # noqa: E731
    assert await dispatch_due(factory, email, NoSms(), connections=3) == 6
    async with SqlNotificationUnitOfWork(sessions) as uow:
        [faulty] = await uow.notifications.messages_of("U-2")
        [same_connection] = await uow.notifications.messages_of("U-5")  # lanes: 0 1 2 0 1 2
    assert (faulty["status"], faulty["attempts"]) == ("pending", 1)
    assert faulty["last_error"] == "unexpected error: ValueError"  # no text: it may hold data
    assert same_connection["status"] == "sent"
    assert sorted(r for mail in smtp_server.messages for r in mail.recipients) == [
        address(f"U-{n}") for n in (0, 1, 3, 4, 5)
    ]
    # Retried after its own delay (1 s), not at once and not in a loop.
    assert await dispatch_due(factory, email, NoSms(), connections=3) == 0
    await asyncio.sleep(1.0)
    assert await dispatch_due(factory, email, NoSms(), connections=3) == 1
    assert copies(smtp_server) == Counter(dict.fromkeys(await stored(sessions), 1))
    assert email.built[address("U-2")] == 2
