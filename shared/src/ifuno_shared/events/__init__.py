"""The platform's event contracts (CONTRACTS.md): envelope, payload models, topics."""

from ifuno_shared.events import candidature, notification, portal, selection, timeline
from ifuno_shared.events.base import (
    DocumentKind,
    Email,
    EventData,
    Level,
    Phase,
    Regime,
    Round,
)
from ifuno_shared.events.envelope import (
    CONTENT_TYPE_HEADER,
    CloudEvent,
    InvalidEvent,
    check_binding,
    decode_event,
    decode_record,
    describe_validation,
    encode_event,
    new_event,
)
from ifuno_shared.events.registry import EVENT_MODELS, model_for
from ifuno_shared.events.topics import PUBLIC_TOPICS, Topic

__all__ = [
    "CONTENT_TYPE_HEADER",
    "EVENT_MODELS",
    "PUBLIC_TOPICS",
    "CloudEvent",
    "DocumentKind",
    "Email",
    "EventData",
    "InvalidEvent",
    "Level",
    "Phase",
    "Regime",
    "Round",
    "Topic",
    "candidature",
    "check_binding",
    "decode_event",
    "decode_record",
    "describe_validation",
    "encode_event",
    "model_for",
    "new_event",
    "notification",
    "portal",
    "selection",
    "timeline",
]
