"""Real servers as local processes, for tests and the demo on a machine without Docker."""

from ifuno_shared.local.kafka import LocalKafkaBroker
from ifuno_shared.local.postgres import LocalPostgres
from ifuno_shared.local.sms import FakeSmsGateway
from ifuno_shared.local.smtp import CapturingSmtpServer

__all__ = ["CapturingSmtpServer", "FakeSmsGateway", "LocalKafkaBroker", "LocalPostgres"]
