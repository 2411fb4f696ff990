"""From a CloudEvents `type` to the model of its `data`."""

from __future__ import annotations

from ifuno_shared.events.base import EventData
from ifuno_shared.events.candidature import CANDIDATURE_EVENTS
from ifuno_shared.events.notification import NOTIFICATION_EVENTS
from ifuno_shared.events.portal import PORTAL_EVENTS
from ifuno_shared.events.selection import SELECTION_EVENTS
from ifuno_shared.events.timeline import TIMELINE_EVENTS

ALL_EVENT_MODELS: tuple[type[EventData], ...] = (
    *PORTAL_EVENTS,
    *CANDIDATURE_EVENTS,
    *SELECTION_EVENTS,
    *NOTIFICATION_EVENTS,
    *TIMELINE_EVENTS,
)

EVENT_MODELS: dict[str, type[EventData]] = {model.event_type: model for model in ALL_EVENT_MODELS}


def model_for(event_type: str) -> type[EventData] | None:
    return EVENT_MODELS.get(event_type)
