"""The CloudEvents 1.0 envelope (structured JSON mode) and its codec."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Generic, Literal, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
)

from ifuno_shared.events.base import EventData
from ifuno_shared.events.registry import model_for

CONTENT_TYPE_HEADER = ("content-type", b"application/cloudevents+json")


class InvalidEvent(ValueError):
    """A record that is not a valid event of the contract; `reason` names the field."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Data = TypeVar("Data", bound=EventData, covariant=True)


class CloudEvent(BaseModel, Generic[Data]):
    """One event of the platform, its `data` parsed into the model of its `type`.

    Generic in its data so that a handler says what it takes
    (`event: CloudEvent[ApplicationReceived]`): the annotation both types `event.data`
    and chooses the events the handler is given (`messaging.handlers_by_annotation`).
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=200)
    source: str = Field(min_length=1)
    type: str = Field(min_length=1)
    time: AwareDatetime
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    data: SerializeAsAny[Data]

    @property
    def key(self) -> str:
        """The Kafka key: the subject (application id, or campaign for the timeline)."""
        return self.subject or self.id


def new_event(
    data: EventData,
    *,
    subject: str,
    event_id: str | None = None,
    time: datetime | None = None,
) -> CloudEvent:
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        source=data.source,
        type=data.event_type,
        time=time or datetime.now(UTC),
        subject=subject,
        data=data,
    )


def encode_event(event: CloudEvent) -> bytes:
    return event.model_dump_json(exclude_none=False).encode()


def _describe(error: ValidationError, prefix: str) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "(root)"
    return f"{prefix}{location}: {first['msg']}"


def decode_event(raw: bytes | str | None) -> CloudEvent:
    """Parse a Kafka record value; raise InvalidEvent naming what is wrong, and nothing
    else whatever a producer sent (deep nesting, huge numbers, bad bytes)."""
    try:
        return _decode(raw)
    except InvalidEvent:
        raise
    except (RecursionError, MemoryError, ValueError, TypeError) as exc:
        raise InvalidEvent(f"undecodable record ({type(exc).__name__})") from None


def _decode(raw: bytes | str | None) -> CloudEvent:
    if raw is None:
        raise InvalidEvent("empty record value")
    try:
        document: Any = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise InvalidEvent("not a JSON object")
    event_type = document.get("type")
    if not isinstance(event_type, str):
        raise InvalidEvent("type: missing or not a string")
    model = model_for(event_type)
    if model is None:
        raise InvalidEvent(f"type: unknown event type {event_type!r}")
    if "data" not in document:
        raise InvalidEvent("data: missing")
    try:
        data = model.model_validate(document["data"])
    except ValidationError as exc:
        raise InvalidEvent(_describe(exc, "data.")) from exc
    try:
        return CloudEvent.model_validate({**document, "data": data})
    except ValidationError as exc:
        raise InvalidEvent(_describe(exc, "")) from exc
