"""The timeline's settings: IFUNO_TIMELINE_* plus the platform-wide ones."""

from __future__ import annotations

from pathlib import Path

from ifuno_shared.runtime import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class TimelineSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IFUNO_TIMELINE_", extra="ignore")

    http_port: int = Field(default=8084, ge=0, le=65535)
    calendar_file: Path | None = None
    clock_speed: float = Field(default=0.0, ge=0)
    """Simulated seconds per real second; 0: the simulated clock moves only by POST /v1/clock."""
    tick_seconds: float = Field(default=1.0, gt=0)
    """How often an accelerated simulated clock moves."""
    real_tick_seconds: float = Field(default=60.0, gt=0)
    """How often the real clock is announced (CONTRACTS.md: once a minute)."""
