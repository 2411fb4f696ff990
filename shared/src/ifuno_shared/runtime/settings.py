"""Settings shared by every service, read from the environment (CONTRACTS.md)."""

from __future__ import annotations

import sys
from typing import Annotated, Literal, TypeVar

from pydantic import AliasChoices, AwareDatetime, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ifuno_shared.events import Level
from ifuno_shared.persistence.engine import DatabaseTimeouts
from ifuno_shared.retention import DEFAULT_RETENTION_UNTIL, parse_month_day

ROLES = frozenset({"reviewer", "committee", "admin", "viewer"})


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class ServiceSettings(BaseSettings):
    """Subclass per service with `env_prefix="IFUNO_<NAME>_"` for its own fields."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str
    http_port: int = Field(default=8000, ge=0, le=65535)
    http_host: str = "127.0.0.1"
    kafka_bootstrap: str = Field(validation_alias=_env("IFUNO_KAFKA_BOOTSTRAP"))
    api_tokens: Annotated[dict[str, str], NoDecode] = Field(
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
    log_level: str = Field(default="INFO", validation_alias=_env("IFUNO_LOG_LEVEL"))
    db_connect_timeout: float = Field(
        default=5.0, gt=0, validation_alias=_env("IFUNO_DB_CONNECT_TIMEOUT")
    )
    """Seconds to open a database connection (or wait for one from the pool)."""
    db_statement_timeout: float = Field(
        default=30.0, gt=0, validation_alias=_env("IFUNO_DB_STATEMENT_TIMEOUT")
    )
    """Seconds a statement may run before PostgreSQL cancels it."""
    db_lock_timeout: float = Field(
        default=10.0, gt=0, validation_alias=_env("IFUNO_DB_LOCK_TIMEOUT")
    )
    """Seconds a statement may wait for a row or table lock."""
    db_idle_in_transaction_timeout: float = Field(
        default=60.0, gt=0, validation_alias=_env("IFUNO_DB_IDLE_IN_TRANSACTION_TIMEOUT")
    )
    """Seconds a transaction may stay open doing nothing before PostgreSQL ends it."""
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

    @field_validator("api_tokens", mode="before")
    @classmethod
    def _parse_tokens(cls, value: object) -> object:
        """`token:role,token:role`, each role one of reviewer, committee, admin, viewer."""
        if not isinstance(value, str):
            return value
        tokens: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in value.split(","))):
            token, _, role = item.rpartition(":")
            if not token or role not in ROLES:
                raise ValueError(
                    "expected token:role pairs separated by commas, "
                    f"roles among {', '.join(sorted(ROLES))}"
                )
            tokens[token] = role
        return tokens

    @field_validator("retention_until")
    @classmethod
    def _month_day(cls, value: str) -> str:
        parse_month_day(value)
        return value

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str) -> str:
        if not value.startswith(("postgresql", "postgres://")):
            raise ValueError("must be a PostgreSQL URL (postgresql+asyncpg://...)")
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
    info = settings_class.model_fields.get(field)
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
