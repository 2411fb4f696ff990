"""Selection's settings: IFUNO_SELECTION_* plus the platform-wide ones."""

from __future__ import annotations

from datetime import time

from ifuno_shared.calendar import CampaignCalendar
from ifuno_shared.runtime.settings import CapacitySettings, check_http_url
from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from ifuno_selection.domain.rules import Thresholds
from ifuno_selection.domain.season import Season


class SelectionSettings(CapacitySettings):
    model_config = SettingsConfigDict(env_prefix="IFUNO_SELECTION_", extra="ignore")

    http_port: int = Field(default=8082, ge=0, le=65535)
    shortlist_threshold: float = Field(default=10.0, ge=0, le=20)
    admission_threshold: float = Field(default=24.0, ge=0, le=40)
    waitlist_threshold: float = Field(default=20.0, ge=0, le=40)
    reviews_required: int = Field(default=1, ge=1)
    interview_day_start: time = time(9, 0)
    interview_day_end: time = time(17, 0)
    interview_notice_days: int = Field(default=7, ge=0)
    interview_location: str = "Le Mans Université, avenue Olivier Messiaen, 72085 Le Mans"
    video_base_url: str = "https://visio.univ-lemans.fr/ifuno"
    offer_days: int = Field(default=7, ge=1)
    grace_minutes: int = Field(default=10, ge=0)

    @field_validator("video_base_url")
    @classmethod
    def _video(cls, url: str) -> str:
        return check_http_url(url)

    @field_validator("interview_day_end")
    @classmethod
    def _after_start(cls, end: time, info: ValidationInfo) -> time:
        start = info.data.get("interview_day_start")
        if start is not None and end <= start:
            raise ValueError("must be after IFUNO_SELECTION_INTERVIEW_DAY_START")
        return end

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(
            shortlist=self.shortlist_threshold,
            admission=self.admission_threshold,
            waitlist=self.waitlist_threshold,
        )

    def season(self, calendar: CampaignCalendar) -> Season:
        return Season.of(calendar, self.offer_days, self.grace_minutes)
