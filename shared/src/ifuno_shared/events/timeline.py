"""Events the timeline service publishes on `ifuno.timeline.v1` (key: the campaign)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from ifuno_shared.events.base import Campaign, EventData, Phase, Timestamp
from ifuno_shared.events.topics import Topic


class TimelineEventData(EventData):
    topic: ClassVar[Topic] = Topic.TIMELINE
    source: ClassVar[str] = "/ifuno/timeline"


class PhaseStarted(TimelineEventData):
    event_type: ClassVar[str] = "ifuno.timeline.phase_started.v1"

    campaign: Campaign
    phase: Phase
    starts_at: Timestamp
    ends_at: Timestamp


class ClockAdvanced(TimelineEventData):
    event_type: ClassVar[str] = "ifuno.timeline.clock_advanced.v1"

    campaign: Campaign
    now: Timestamp
    previous: Timestamp | None = None


class PhaseWindow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    phase: Phase
    starts_at: Timestamp
    ends_at: Timestamp


class CalendarChanged(TimelineEventData):
    """The campaign's whole calendar, announced at start and whenever an override
    changes it mid-season: every service applies it from then on."""

    event_type: ClassVar[str] = "ifuno.timeline.calendar_changed.v1"

    campaign: Campaign
    phases: list[PhaseWindow]


TIMELINE_EVENTS: tuple[type[TimelineEventData], ...] = (
    PhaseStarted,
    ClockAdvanced,
    CalendarChanged,
)
