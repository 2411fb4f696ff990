"""All the local servers at once: what the demo and the end-to-end tests run against."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from ifuno_shared.local.kafka import LocalKafkaBroker
from ifuno_shared.local.postgres import LocalPostgres
from ifuno_shared.local.sms import FakeSmsGateway
from ifuno_shared.local.smtp import CapturingSmtpServer

SERVICES = ("candidature", "selection", "notification", "timeline", "dashboard")


@dataclass
class LocalInfrastructure:
    base_dir: Path
    postgres: LocalPostgres = field(init=False)
    broker: LocalKafkaBroker = field(init=False)
    smtp: CapturingSmtpServer = field(init=False)
    sms: FakeSmsGateway = field(init=False)
    database_urls: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.postgres = LocalPostgres(self.base_dir / "postgres")
        self.broker = LocalKafkaBroker(log_file=self.base_dir / "broker.log")
        self.smtp = CapturingSmtpServer(folder=self.base_dir / "mail")
        self.sms = FakeSmsGateway()

    def start(self) -> None:
        self.postgres.start()
        self.database_urls = {name: self.postgres.create_database(name) for name in SERVICES}
        self.broker.start()
        asyncio.run(self.broker.create_topics())
        self.smtp.start()
        self.sms.start()

    def stop(self) -> None:
        self.sms.stop()
        self.smtp.stop()
        self.broker.stop()
        self.postgres.stop()

    def environment(self) -> dict[str, str]:
        """The settings a service process needs to use these servers."""
        return {
            "IFUNO_KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "IFUNO_SMTP_HOST": self.smtp.host,
            "IFUNO_SMTP_PORT": str(self.smtp.port),
            "IFUNO_SMS_GATEWAY_URL": self.sms.url,
            "IFUNO_SMS_GATEWAY_TOKEN": self.sms.token,
            **{
                f"IFUNO_{name.upper()}_DATABASE_URL": url
                for name, url in self.database_urls.items()
            },
        }
