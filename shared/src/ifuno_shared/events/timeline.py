"""Events the timeline service publishes on `ifuno.timeline.v1` (key: the campaign)."""

from __future__ import annotations

from typing import ClassVar

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


TIMELINE_EVENTS: tuple[type[TimelineEventData], ...] = (PhaseStarted, ClockAdvanced)
