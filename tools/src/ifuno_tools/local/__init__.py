"""Real servers as local processes, for tests and the demo on a machine without Docker."""

from ifuno_tools.local.kafka import CONSUMER_OPTIONS, PRODUCER_OPTIONS, LocalKafkaBroker
from ifuno_tools.local.postgres import LocalPostgres, PostgresAdmin
from ifuno_tools.local.s3 import LocalS3
from ifuno_tools.local.sms import FakeSmsGateway
from ifuno_tools.local.smtp import CapturingSmtpServer

__all__ = [
    "CONSUMER_OPTIONS",
    "PRODUCER_OPTIONS",
    "CapturingSmtpServer",
    "FakeSmsGateway",
    "LocalKafkaBroker",
    "LocalPostgres",
    "LocalS3",
    "PostgresAdmin",
]
