"""Settings shared by every service, read from the environment (CONTRACTS.md)."""

from __future__ import annotations

import ipaddress
import re
import sys
from datetime import datetime, timedelta
from typing import Annotated, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import AliasChoices, AwareDatetime, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ifuno_shared.events import Level
from ifuno_shared.persistence.engine import DatabaseTimeouts, async_url
from ifuno_shared.persistence.housekeeping import Windows
from ifuno_shared.retention import DEFAULT_RETENTION_UNTIL, parse_month_day
from ifuno_shared.staff import Staff, parse_entry, parse_tokens


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and 1 <= int(text) <= 65535


def _is_bootstrap_entry(entry: str) -> bool:
    """`host`, `host:port`, `[IPv6]`, `[IPv6]:port` or a bare IPv6 address (as aiokafka
    reads them; a missing port is 9092)."""
    if entry.startswith("["):
        address, closed, rest = entry[1:].partition("]")
        if not closed or (rest and not (rest.startswith(":") and _is_port(rest[1:]))):
            return False
        return _is_ipv6(address)
    if _is_ipv6(entry):
        return True
    host, colon, port = entry.partition(":")
    return _HOST.fullmatch(host) is not None and (not colon or _is_port(port))


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def check_host(value: str) -> str:
    """A host name or address: not empty, no blank inside."""
    if not value.strip() or any(c.isspace() for c in value.strip()):
        raise ValueError("must be a host name or address")
    return value.strip()


def check_http_url(value: str) -> str:
    """An `http://` or `https://` URL with a host (and, if any, a port 1-65535)."""
    expected = "must be an http:// or https:// URL with a host, e.g. https://host:port/path"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(expected) from None
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or port == 0
        or any(c.isspace() for c in value)
    ):
        raise ValueError(expected)
    return value


def _check_bootstrap(value: str) -> str:
    """A comma-separated list of Kafka brokers, each `host[:port]` with a port 1-65535."""
    if not all(_is_bootstrap_entry(entry.strip()) for entry in value.split(",")):
        raise ValueError(
            "must be a comma-separated list of host[:port] (port 1-65535), e.g. kafka:9092"
        )
    return value


_PG_TIMEOUT_MAX = 2_147_483
"""Seconds: PostgreSQL takes its timeouts in milliseconds, at most 2^31 - 1."""


class ServiceSettings(BaseSettings):
    """Subclass per service with `env_prefix="IFUNO_<NAME>_"` for its own fields."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, allow_inf_nan=False)
    """No `inf` nor `nan` for any number of any service (a timeout or a period of `inf` would
    stop the service later, with a traceback)."""

    database_url: str
    http_port: int = Field(default=8000, ge=0, le=65535)
    http_host: str = "127.0.0.1"
    kafka_bootstrap: str = Field(validation_alias=_env("IFUNO_KAFKA_BOOTSTRAP"))
    api_tokens: Annotated[dict[str, Staff], NoDecode] = Field(
        default_factory=dict, validation_alias=_env("IFUNO_API_TOKENS")
    )
    clock: Literal["real", "simulated"] = Field(
        default="real", validation_alias=_env("IFUNO_CLOCK")
    )
    clock_start: AwareDatetime | None = Field(
        default=None, validation_alias=_env("IFUNO_CLOCK_START")
    )
    campaign: int | None = Field(
        default=None, ge=2000, le=2100, validation_alias=_env("IFUNO_CAMPAIGN")
    )
    kafka_fetch_max_wait_ms: int = Field(
        default=100, ge=1, le=30_000, validation_alias=_env("IFUNO_KAFKA_FETCH_MAX_WAIT_MS")
    )
    """Milliseconds a consumer's fetch may wait at the broker for new records. Kafka
    answers as soon as a record arrives, whatever the wait; some Kafka-protocol brokers
    (Tansu, the local one) answer only when the wait ends, so each hop would add it to
    a candidate's wait. A short wait costs only empty fetches while the topic is idle."""
    kafka_consumer_linger_ms: int = Field(
        default=100, ge=0, le=10_000, validation_alias=_env("IFUNO_KAFKA_CONSUMER_LINGER_MS")
    )
    """Milliseconds at least between the starts of two deliveries of a consumer: under a
    steady load the records that arrive meanwhile are applied in one transaction, not a
    few at a time. A record waits at most this long per hop; a burst never waits."""
    outbox_relay_linger_ms: int = Field(
        default=100, ge=0, le=10_000, validation_alias=_env("IFUNO_OUTBOX_RELAY_LINGER_MS")
    )
    """Milliseconds at least between two rounds of the outbox relay: under a steady load
    the events committed meanwhile go out in one round (one read, one produce request)
    rather than one round per transaction. An event after a quiet spell goes at once."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        default="INFO", validation_alias=_env("IFUNO_LOG_LEVEL")
    )
    db_connect_timeout: float = Field(
        default=5.0, gt=0, validation_alias=_env("IFUNO_DB_CONNECT_TIMEOUT")
    )
    """Seconds to open a database connection (or wait for one from the pool)."""
    db_statement_timeout: float = Field(
        default=30.0, gt=0, le=_PG_TIMEOUT_MAX, validation_alias=_env("IFUNO_DB_STATEMENT_TIMEOUT")
    )
    """Seconds a statement may run before PostgreSQL cancels it."""
    db_lock_timeout: float = Field(
        default=10.0, gt=0, le=_PG_TIMEOUT_MAX, validation_alias=_env("IFUNO_DB_LOCK_TIMEOUT")
    )
    """Seconds a statement may wait for a row or table lock."""
    db_idle_in_transaction_timeout: float = Field(
        default=60.0,
        gt=0,
        le=_PG_TIMEOUT_MAX,
        validation_alias=_env("IFUNO_DB_IDLE_IN_TRANSACTION_TIMEOUT"),
    )
    """Seconds a transaction may stay open doing nothing before PostgreSQL ends it."""
    outbox_keep_days: float = Field(
        default=7.0, gt=0, validation_alias=_env("IFUNO_OUTBOX_KEEP_DAYS")
    )
    """Days a published outbox row is kept before housekeeping deletes it (fractions allowed;
    an unpublished row is never deleted)."""
    inbox_keep_days: float = Field(
        default=30.0, gt=0, validation_alias=_env("IFUNO_INBOX_KEEP_DAYS")
    )
    """Days an applied event's id is kept in the inbox, where it stops a redelivery from
    applying the event twice (fractions allowed)."""
    housekeeping_interval: float = Field(
        default=3600.0, gt=0, validation_alias=_env("IFUNO_HOUSEKEEPING_INTERVAL")
    )
    """Seconds between two housekeeping passes (the first runs at start)."""
    retention_until: str = Field(
        default=DEFAULT_RETENTION_UNTIL, validation_alias=_env("IFUNO_RETENTION_UNTIL")
    )
    """`MM-DD`: a campaign Y's personal data is erased everywhere on that day of Y+1,
    00:00 Paris time (platform clock). One platform-wide setting: set it alike for all."""

    @property
    def database_timeouts(self) -> DatabaseTimeouts:
        return DatabaseTimeouts(
            connect=self.db_connect_timeout,
            statement=self.db_statement_timeout,
            lock=self.db_lock_timeout,
            idle_in_transaction=self.db_idle_in_transaction_timeout,
        )

    @property
    def housekeeping_windows(self) -> Windows:
        return Windows.from_days(self.outbox_keep_days, self.inbox_keep_days)

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _parse_tokens(cls, value: object) -> object:
        """`token:name:role,...` (or the older `token:role`, named after its role); in code,
        a mapping token -> `Staff`, `"name:role"` or `"role"`."""
        if isinstance(value, str):
            return parse_tokens(value)
        if isinstance(value, dict):
            return {
                token: parse_entry(f"-:{staff}")[1] if isinstance(staff, str) else staff
                for token, staff in value.items()
            }
        return value

    @field_validator("clock_start", mode="before")
    @classmethod
    def _rfc3339(cls, value: object) -> object:
        """RFC 3339 only: not a Unix time, nor a time without seconds or offset."""
        if isinstance(value, str) and _RFC3339.fullmatch(value) is None:
            raise ValueError(
                "must be an RFC 3339 date-time with its offset, e.g. 2027-01-04T09:00:00+01:00"
            )
        if value is not None and not isinstance(value, (str, datetime)):
            raise ValueError("must be an RFC 3339 date-time with its offset")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("outbox_keep_days", "inbox_keep_days")
    @classmethod
    def _days(cls, days: float) -> float:
        try:
            timedelta(days=days)
        except OverflowError:
            raise ValueError(f"must be at most {timedelta.max.days} days") from None
        return days

    @field_validator("retention_until")
    @classmethod
    def _month_day(cls, value: str) -> str:
        parse_month_day(value)
        return value

    @field_validator("http_host")
    @classmethod
    def _http_host(cls, host: str) -> str:
        return check_host(host)

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        return _check_bootstrap(value)

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str) -> str:
        """Read as the engine will read it; the message never holds the URL (its password)."""
        expected = "must be a PostgreSQL URL (postgresql+asyncpg://user:password@host:port/db)"
        try:
            url = make_url(async_url(value))
            port = url.port
        except (ArgumentError, ValueError):
            raise ValueError(f"{expected}; it could not be read") from None
        if url.drivername != "postgresql+asyncpg":
            raise ValueError(expected)
        if port is not None and not 1 <= port <= 65535:
            raise ValueError(f"{expected}; its port must be 1-65535")
        return value


class CapacitySettings(ServiceSettings):
    """The places per level (RULES.md: 20 in M1, 24 in M2), one platform-wide setting
    read by every service that needs it, so selection and the dashboard never disagree."""

    capacity_m1: int = Field(default=20, ge=0, validation_alias=_env("IFUNO_CAPACITY_M1"))
    capacity_m2: int = Field(default=24, ge=0, validation_alias=_env("IFUNO_CAPACITY_M2"))

    @property
    def capacities(self) -> dict[Level, int]:
        return {Level.M1: self.capacity_m1, Level.M2: self.capacity_m2}


SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


def _env_name(settings_class: type[ServiceSettings], field: str) -> str:
    """The variable to name: pydantic reports a field by its name, or by the variable it
    was read from (an alias, such as IFUNO_API_TOKENS)."""
    fields = settings_class.model_fields
    aliases = (info.validation_alias for info in fields.values())
    if any(isinstance(alias, AliasChoices) and field in alias.choices for alias in aliases):
        return field
    info = fields.get(field)
    if info is not None and isinstance(info.validation_alias, AliasChoices):
        first = info.validation_alias.choices[0]
        if isinstance(first, str):
            return first
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    return f"{prefix}{field}".upper()


class ConfigurationError(SystemExit):
    """Stops a service at start with one clear line naming the setting (exit status 2)."""

    def __init__(self, line: str) -> None:
        print(f"configuration error: {line}", file=sys.stderr)
        super().__init__(2)


def load_settings(settings_class: type[SettingsT]) -> SettingsT:
    """Read the settings, or stop the process with one clear line naming the setting."""
    try:
        return settings_class()
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        name = _env_name(settings_class, field)
        problem = "is missing" if error["type"] == "missing" else f"is invalid: {error['msg']}"
        raise ConfigurationError(f"{name} {problem}") from None
