"""The dashboard's settings: IFUNO_DASHBOARD_* plus the platform-wide ones."""

from __future__ import annotations

from ifuno_shared.runtime.settings import CapacitySettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class DashboardSettings(CapacitySettings):
    model_config = SettingsConfigDict(env_prefix="IFUNO_DASHBOARD_", extra="ignore")

    http_port: int = Field(default=8080, ge=0, le=65535)
    lag_interval: float = Field(default=5.0, gt=0)
    """How often consumer lag per service is measured (seconds)."""
    candidature_url: str | None = None
    selection_url: str | None = None
    notification_url: str | None = None
    timeline_url: str | None = None
    """The services the staff workspace calls (`http://host:port`), with the signed-in
    staff member's own token; a page that needs one not set says so."""
