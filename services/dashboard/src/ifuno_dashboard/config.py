"""The dashboard's settings: IFUNO_DASHBOARD_* plus the platform-wide ones."""

from __future__ import annotations

from ifuno_shared.runtime.settings import CapacitySettings, check_http_url
from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict


class DashboardSettings(CapacitySettings):
    model_config = SettingsConfigDict(env_prefix="IFUNO_DASHBOARD_", extra="ignore")

    http_port: int = Field(default=8080, ge=0, le=65535)
    lag_interval: float = Field(default=5.0, gt=0)
    """How often consumer lag per service is measured (seconds)."""
    candidature_url: str | None = None
    """candidature's address (`http://host:port`) for the staff workspace."""
    selection_url: str | None = None
    """selection's address for the staff workspace."""
    notification_url: str | None = None
    """notification's address for the staff workspace."""
    timeline_url: str | None = None
    """timeline's address for the staff workspace (the calendar on its operations page)."""

    @field_validator("candidature_url", "selection_url", "notification_url", "timeline_url")
    @classmethod
    def _service_url(cls, url: str | None) -> str | None:
        """Empty is unset (that part of the workspace says the service is not configured)."""
        return check_http_url(url) if url else None
