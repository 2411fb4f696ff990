"""Notification's settings: IFUNO_NOTIFICATION_*, IFUNO_SMTP_*, IFUNO_SMS_GATEWAY_*."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ifuno_shared.runtime import ServiceSettings
from ifuno_shared.runtime.settings import check_host, check_http_url
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import SettingsConfigDict


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class NotificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IFUNO_NOTIFICATION_", extra="ignore")

    http_port: int = Field(default=8083, ge=0, le=65535)
    smtp_host: str = Field(validation_alias=_env("IFUNO_SMTP_HOST"))
    smtp_port: int = Field(default=25, ge=1, le=65535, validation_alias=_env("IFUNO_SMTP_PORT"))
    smtp_tls: Literal["none", "starttls", "tls"] = Field(
        default="none", validation_alias=_env("IFUNO_SMTP_TLS")
    )
    smtp_username: str | None = Field(default=None, validation_alias=_env("IFUNO_SMTP_USERNAME"))
    smtp_password: str | None = Field(default=None, validation_alias=_env("IFUNO_SMTP_PASSWORD"))
    smtp_from: str = Field(
        default="Master IFUNO <contacts.ifuno@univ-lemans.fr>",
        validation_alias=_env("IFUNO_SMTP_FROM"),
    )
    sms_gateway_url: str | None = Field(
        default=None, validation_alias=_env("IFUNO_SMS_GATEWAY_URL")
    )
    sms_gateway_token: str | None = Field(
        default=None, validation_alias=_env("IFUNO_SMS_GATEWAY_TOKEN")
    )
    """The gateway's bearer token; none (or empty): requests carry no `Authorization`."""
    outbox_dir: Path | None = None
    """Also keep a copy of every email sent, as .eml files (the demo's sample emails)."""
    dispatch_interval: float = Field(default=0.2, gt=0)
    """Seconds between two looks for due messages when there was nothing to send (messages
    queued by this instance wake the dispatcher at once; the look finds retries come due
    and messages queued by other instances)."""
    dispatch_batch: int = Field(default=200, ge=1)
    """Due messages claimed at a time."""
    smtp_connections: int = Field(default=1, ge=1)
    """Connections a batch is sent over at once (each application's messages on one,
    in order). A crash can send again one message per connection (the one accepted
    and not yet recorded): the default, 1, keeps that to one message; more connections
    trade that bound for throughput (the benchmark runs with 8)."""
    retry_hours: float = Field(default=24, gt=0)
    """How long transient failures (a server down or busy) are retried before giving up."""
    claim_lease: float = Field(default=30, gt=0)
    """Seconds a dispatcher holds the messages it claimed: a message whose outcome is
    not recorded by then (its dispatcher died) is claimed and sent again. A claim
    starts no send after half of it."""

    @field_validator("sms_gateway_token")
    @classmethod
    def _empty_is_none(cls, token: str | None) -> str | None:
        return token or None

    @field_validator("smtp_host")
    @classmethod
    def _host(cls, host: str) -> str:
        return check_host(host)

    @field_validator("sms_gateway_url")
    @classmethod
    def _gateway(cls, url: str | None) -> str | None:
        """Empty is unset (no SMS), as docker-compose.yml passes it when not given."""
        return check_http_url(url) if url else None
