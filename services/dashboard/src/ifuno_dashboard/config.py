"""The dashboard's settings: IFUNO_DASHBOARD_* plus the platform-wide ones."""

from __future__ import annotations

from ifuno_shared.runtime import ServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class DashboardSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="IFUNO_DASHBOARD_", extra="ignore")

    http_port: int = Field(default=8080, ge=0, le=65535)
    capacity_m1: int = Field(default=20, ge=0)
    capacity_m2: int = Field(default=24, ge=0)
    lag_interval: float = Field(default=5.0, gt=0)
    """How often consumer lag per service is measured (seconds)."""

    @property
    def capacities(self) -> dict[str, int]:
        return {"M1": self.capacity_m1, "M2": self.capacity_m2}
