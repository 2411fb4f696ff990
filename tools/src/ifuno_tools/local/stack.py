"""All the local servers at once: what the demo and the end-to-end tests run against.

`start()` brings up PostgreSQL (one database per service), the broker (the
public topics created, three partitions each), the SMTP capture and the fake
SMS gateway, and returns the environment a service process needs to use them.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ifuno_tools.local.kafka import LocalKafkaBroker
from ifuno_tools.local.postgres import LocalPostgres
from ifuno_tools.local.s3 import LocalS3
from ifuno_tools.local.sms import FakeSmsGateway
from ifuno_tools.local.smtp import CapturingSmtpServer

SERVICES = ("candidature", "selection", "notification", "timeline", "dashboard")


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to completion from synchronous code, even when this thread
    already runs an event loop (then on a short-lived thread of its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coroutine)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


@dataclass
class LocalInfrastructure:
    """`durable_kafka` keeps the broker's log in an in-process S3 (moto, a dev
    dependency) so that stopping and starting `broker` loses nothing."""

    base_dir: Path
    kafka_port: int | None = None
    smtp_port: int | None = None
    sms_port: int | None = None
    durable_kafka: bool = False
    keep_mail_files: bool = True
    """Also write each email the SMTP server accepts under `base_dir/mail` (the demo's
    sample emails); a benchmark turns it off, as a mail server's disk is not measured."""
    postgres: LocalPostgres = field(init=False)
    broker: LocalKafkaBroker = field(init=False)
    smtp: CapturingSmtpServer = field(init=False)
    sms: FakeSmsGateway = field(init=False)
    s3: LocalS3 | None = field(init=False, default=None)
    database_urls: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.base_dir = Path(self.base_dir)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.postgres = LocalPostgres(self.base_dir / "postgres")
        if self.durable_kafka:
            self.s3 = LocalS3()
        self.broker = LocalKafkaBroker(self.kafka_port, log_file=self.base_dir / "broker.log")
        mail_dir = self.base_dir / "mail" if self.keep_mail_files else None
        self.smtp = CapturingSmtpServer(self.smtp_port, folder=mail_dir)
        self.sms = FakeSmsGateway(self.sms_port)

    def start(self) -> dict[str, str]:
        """Start everything (about a second); return `environment()`.
        On a failure, whatever had started is stopped again."""
        try:
            self.postgres.start()
            if self.s3 is not None:
                self.s3.start()
                self.broker = LocalKafkaBroker.on_s3(
                    self.s3, port=self.kafka_port, log_file=self.base_dir / "broker.log"
                )
            self.broker.start()
            self.smtp.start()
            self.sms.start()
            _run(self._prepare())
        except BaseException:
            self.stop()
            raise
        return self.environment()

    async def _prepare(self) -> None:
        urls, _ = await asyncio.gather(
            self.postgres.create_databases(SERVICES), self.broker.create_topics()
        )
        self.database_urls = dict(zip(SERVICES, urls, strict=True))

    def stop(self) -> None:
        self.sms.stop()
        self.smtp.stop()
        self.broker.stop()
        if self.s3 is not None:
            self.s3.stop()
        self.postgres.stop()

    def dsn(self, service: str) -> str:
        """The plain `postgresql://` URL of a service's database (asyncpg, psql)."""
        return self.database_urls[service].replace("postgresql+asyncpg://", "postgresql://", 1)

    def environment(self) -> dict[str, str]:
        """The settings a service process needs to use these servers."""
        return {
            "IFUNO_KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "IFUNO_SMTP_HOST": self.smtp.host,
            "IFUNO_SMTP_PORT": str(self.smtp.port),
            "IFUNO_SMS_GATEWAY_URL": self.sms.url,
            "IFUNO_SMS_GATEWAY_TOKEN": self.sms.token or "",
            **{
                f"IFUNO_{name.upper()}_DATABASE_URL": url
                for name, url in self.database_urls.items()
            },
        }

    def __enter__(self) -> LocalInfrastructure:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
