"""The candidature service's settings: IFUNO_CANDIDATURE_* plus the platform-wide ones."""

from __future__ import annotations

from ifuno_shared.runtime import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class CandidatureSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IFUNO_CANDIDATURE_", extra="ignore")

    http_port: int = Field(default=8081, ge=0, le=65535)
    grace_minutes: float = Field(default=10, ge=0)
    """How long after a deadline minute incomplete files wait before they are closed,
    so that on-time submissions and uploads still in flight are read first."""
