"""The five services running in this process on real servers, for the cross-service
tests: one PostgreSQL database each (migrated), a fresh Tansu broker with the platform's
topics, the SMTP capture and the fake SMS gateway, each service a `ServiceRunner` on
the session's event loop with its HTTP server on a free port.

    async with platform_in_process(postgres, folder, tokens=TOKENS, clock_start=...) as p:
        async with p.http("selection") as selection: ...

Written once here so that every such test starts the platform the same way (issue 13).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
from ifuno_shared.calendar import PARIS
from ifuno_shared.persistence.engine import create_engine
from ifuno_shared.persistence.migrations import upgrade_async
from ifuno_shared.runtime import ServiceRunner
from sqlalchemy import text

from ifuno_tools.contracts import route_roles, settings_class
from ifuno_tools.local import CapturingSmtpServer, FakeSmsGateway, LocalKafkaBroker, PostgresAdmin
from ifuno_tools.local.ports import free_ports
from ifuno_tools.testing.portal import Person
from ifuno_tools.testing.scan import PLATFORM_TOPICS, Found, scan_everywhere

SERVICES = ("timeline", "candidature", "selection", "notification", "dashboard")
CLOCK_START = datetime(2027, 5, 3, 9, tzinfo=PARIS)
"""The simulated clock's start by default: campaign 2027's submissions are open."""
SESSION_TIMEOUT_MS = 3000
"""The consumers' session timeout: a group settles in seconds, not the default 45."""


@dataclass
class InProcessPlatform:
    bootstrap: str
    databases: dict[str, str]
    """Service -> its database's SQLAlchemy URL."""
    urls: dict[str, str]
    """Service -> the base URL of its HTTP API."""
    runners: dict[str, ServiceRunner]
    smtp: CapturingSmtpServer
    sms: FakeSmsGateway
    copies: Path
    """Notification's stored copies of the emails it sent (`outbox_dir`)."""

    def http(self, service: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.urls[service], timeout=10.0)

    @cached_property
    def roles(self) -> dict[str, dict[tuple[str, str], set[str]]]:
        """Service -> (method, path) -> the roles its route lets through."""
        return {service: route_roles(service) for service in self.urls}

    async def query(self, service: str, statement: str, **params: Any) -> list[Any]:
        """The rows of one SQL statement on a service's database (a fresh connection)."""
        engine = create_engine(self.databases[service])
        try:
            async with engine.connect() as connection:
                return list((await connection.execute(text(statement), params)).all())
        finally:
            await engine.dispose()

    async def scalar(self, service: str, statement: str, **params: Any) -> Any:
        """The first column of the first row (None: no row)."""
        rows = await self.query(service, statement, **params)
        return rows[0][0] if rows else None

    async def scan(self, who: Person) -> list[Found]:
        """Where anything of this person is left: every service's database, the email
        copies, every platform topic as after compaction (`scan_everywhere`)."""
        return await scan_everywhere(
            databases=self.databases,
            bootstrap=self.bootstrap,
            topics=PLATFORM_TOPICS,
            folders=[self.copies],
            needles=who.needles,
        )


def _settings(
    service: str,
    database_url: str,
    http_port: int,
    platform: InProcessPlatform,
    clock_start: datetime,
    common: Mapping[str, Any],
    own: Mapping[str, Any],
) -> Any:
    """The service's settings: the platform's servers, then `common` where the service
    has such a field, then the test's own for this service."""
    cls = settings_class(service)
    servers: dict[str, Any] = {
        "timeline": {"clock": "simulated", "clock_start": clock_start},
        "notification": {
            "smtp_host": platform.smtp.host,
            "smtp_port": platform.smtp.port,
            "sms_gateway_url": platform.sms.url,
            "sms_gateway_token": platform.sms.token,
            "dispatch_interval": 0.05,
            "outbox_dir": platform.copies,
        },
        "dashboard": {
            "lag_interval": 0.5,
            **{f"{name}_url": url for name, url in platform.urls.items() if name != service},
        },
    }.get(service, {})
    shared = {name: value for name, value in common.items() if name in cls.model_fields}
    return cls(
        database_url=database_url,
        kafka_bootstrap=platform.bootstrap,
        http_port=http_port,
        **{**servers, **shared, **own},
    )


@contextlib.asynccontextmanager
async def platform_in_process(
    postgres: PostgresAdmin,
    folder: Path,
    *,
    tokens: Mapping[str, str],
    clock_start: datetime = CLOCK_START,
    campaign: int = 2027,
    services: Sequence[str] = SERVICES,
    common: Mapping[str, Any] | None = None,
    own: Mapping[str, Mapping[str, Any]] | None = None,
) -> AsyncIterator[InProcessPlatform]:
    """Start `services` on their own broker, SMTP and SMS servers and databases; stop
    and drop everything on exit. The services start all at once, each on a port chosen
    beforehand so that the dashboard's workspace knows the others' addresses: a consumer
    group takes 2 s to join the local broker, and one after another they took 14 s.
    The timeline's clock is simulated, at `clock_start` until a test moves it
    (`POST /v1/clock`).

    `common`: settings for every service that has the field (`capacity_m1`...);
    `own`: service -> its own settings, last. The broker's log, the mail captured
    and notification's copies go under `folder`.
    """
    broker = LocalKafkaBroker(log_file=folder / "broker.log")
    platform = InProcessPlatform(
        bootstrap="",
        databases={},
        urls={},
        runners={},
        smtp=CapturingSmtpServer(folder=folder / "mail"),
        sms=FakeSmsGateway(),
        copies=folder / "copies",
    )
    names = {service: f"it_{service}_{uuid.uuid4().hex[:8]}" for service in services}
    everywhere = {"api_tokens": dict(tokens), "campaign": campaign, **(common or {})}
    try:
        broker.start()
        platform.smtp.start()
        platform.sms.start()
        platform.bootstrap = broker.bootstrap
        # Chosen once the servers above listen, so that none of them can be given one.
        ports = dict(zip(services, free_ports(len(services)), strict=True))
        platform.urls = {service: f"http://127.0.0.1:{port}" for service, port in ports.items()}
        await broker.create_topics()
        modules = {
            service: importlib.import_module(f"ifuno_{service}.entrypoints.service")
            for service in services
        }
        for service, module in modules.items():  # alembic runs one migration at a time
            url = await postgres.create_database(names[service])
            await upgrade_async(url, module.MIGRATIONS_DIR)
            platform.databases[service] = url
        async with contextlib.AsyncExitStack() as stack:

            async def start(service: str) -> None:
                settings = _settings(
                    service,
                    platform.databases[service],
                    ports[service],
                    platform,
                    clock_start,
                    everywhere,
                    (own or {}).get(service, {}),
                )
                options = (
                    {} if service == "timeline" else {"session_timeout_ms": SESSION_TIMEOUT_MS}
                )
                definition = modules[service].build_definition(settings, **options)
                platform.runners[service] = await stack.enter_async_context(
                    ServiceRunner(definition)
                )

            async with asyncio.TaskGroup() as starting:
                for service in services:
                    starting.create_task(start(service), name=f"start {service}")
            yield platform
    finally:
        platform.sms.stop()
        platform.smtp.stop()
        broker.kill()
        for name in names.values():
            with contextlib.suppress(Exception):  # a leftover database is harmless
                await postgres.drop_database(name)
