"""The CloudEvents 1.0 envelope (structured JSON mode) and its codec."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
)
from pydantic_core import from_json

from ifuno_shared.events.base import EventData, SingleLine, Text, Timestamp
from ifuno_shared.events.registry import model_for

CONTENT_TYPE_HEADER = ("content-type", b"application/cloudevents+json")


class InvalidEvent(ValueError):
    """A record that is not a valid event of the contract, or not one its topic and key
    may carry; `reason` names the field or the mismatch, never a value."""

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
    id: Annotated[str, Field(min_length=1, max_length=200), SingleLine]
    source: Annotated[str, Field(min_length=1), SingleLine]
    type: Annotated[str, Field(min_length=1), SingleLine]
    time: Timestamp
    subject: Text | None = None
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
    """A new event of `data`; `subject` must be the data's (`EventData.subject`), or
    every reader would dead-letter it: a producer's mistake fails at the producer.

    Built without validation (`model_construct`): the data is a validated model, the
    source and type are its class's, and what a caller may pass is checked here.
    Validating them all again was a tenth of candidature's CPU in a burst."""
    if subject != data.subject:
        raise ValueError(f"subject of {data.event_type} must be data.{data.subject_field}")
    if event_id is not None and not _EVENT_ID.fullmatch(event_id):
        raise ValueError("event_id must be 1 to 200 characters, no control character")
    if time is not None and time.utcoffset() is None:
        raise ValueError("time must be aware (with its offset)")
    return CloudEvent.model_construct(
        id=event_id or str(uuid.uuid4()),
        source=data.source,
        type=data.event_type,
        time=time or datetime.now(UTC),
        subject=subject,
        data=data,
    )


_EVENT_ID = re.compile(r"[^\x00-\x1f\x7f\ud800-\udfff]{1,200}")


def encode_event(event: CloudEvent) -> bytes:
    return event.model_dump_json(exclude_none=False).encode()


_MESSAGES_MAY_QUOTE_INPUT = frozenset({"value_error", "assertion_error", "union_tag_invalid"})
"""Pydantic's own messages name what was expected, never what was sent, except these
(a third-party validator's text, e.g. the email checker quoting a bad character)."""


def describe_validation(error: ValidationError, prefix: str = "") -> str:
    """The first error of a validation: where, and what was expected; never the value."""
    first = error.errors(include_url=False, include_input=False)[0]
    location = ".".join(str(part) for part in first["loc"]) or "(root)"
    kind = first["type"]
    message = f"invalid value ({kind})" if kind in _MESSAGES_MAY_QUOTE_INPUT else first["msg"]
    return f"{prefix}{location}: {message}"


def _refuse_constant(name: str) -> Any:
    raise InvalidEvent(f"not JSON: {name} is not a JSON number")


def decode_event(raw: bytes | str | None) -> CloudEvent:
    """Parse a Kafka record value; raise InvalidEvent naming what is wrong, and nothing
    else whatever a producer sent (deep nesting, huge numbers, bad bytes)."""
    try:
        return _decode(raw)
    except InvalidEvent:
        raise
    except Exception as exc:
        raise InvalidEvent(f"undecodable record ({type(exc).__name__})") from None


def _decode(raw: bytes | str | None) -> CloudEvent:
    if raw is None:
        raise InvalidEvent("empty record value")
    document = _parse(raw)
    if not isinstance(document, dict):
        raise InvalidEvent("not a JSON object")
    event_type = document.get("type")
    if not isinstance(event_type, str):
        raise InvalidEvent("type: missing or not a string")
    model = model_for(event_type)
    if model is None:
        raise InvalidEvent(f"type: unknown event type {event_type[:100]!r}")
    if "data" not in document:
        raise InvalidEvent("data: missing")
    try:
        data = model.model_validate(document["data"])
    except ValidationError as exc:
        raise InvalidEvent(describe_validation(exc, "data.")) from None
    try:
        return CloudEvent.model_validate({**document, "data": data})
    except ValidationError as exc:
        raise InvalidEvent(describe_validation(exc)) from None


def _parse(raw: bytes | str) -> Any:
    """The JSON document, read by pydantic's parser (half the standard library's
    time). It refuses what the standard library refuses (`NaN`, a lone surrogate, bad
    UTF-8) and a little more (nesting deeper than 200, more than 4,300 digits); on any
    refusal the record is read again by `_parse_strictly`, which names the fault or,
    for what only pydantic's parser refuses, reads it as it always did."""
    try:
        return from_json(raw, allow_inf_nan=False)
    except ValueError:
        return _parse_strictly(raw)


def _parse_strictly(raw: bytes | str) -> Any:
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
        text.encode()
    except UnicodeError as exc:
        position = getattr(exc, "start", 0)
        raise InvalidEvent(f"not JSON: not UTF-8 (at {position})") from None
    try:
        document: Any = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(f"not JSON: {exc.msg} (character {exc.pos})") from None
    _refuse_lone_surrogates(text, document)
    return document


def _refuse_lone_surrogates(text: str, document: Any) -> None:
    """JSON may escape half of a UTF-16 pair (`\\ud800`): such text is no Unicode, and
    no database or re-encoding would take it, wherever it hides in the event."""
    if "\\ud" not in text.lower():
        return
    try:
        json.dumps(document, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        raise InvalidEvent("not JSON: a lone UTF-16 surrogate is not text") from None


def check_binding(event: CloudEvent, *, topic: str, key: bytes | None) -> None:
    """Whether the record may carry this event: its type is of the topic it was read
    from, its source is its type's, and subject and key are the application (or
    campaign) it is about. Else InvalidEvent: no producer speaks for another."""
    data = event.data
    if data.topic.value != topic:
        raise InvalidEvent(f"type {event.type} is not accepted on {topic}")
    if event.source != data.source:
        raise InvalidEvent(f"source: {event.type} is accepted only from {data.source}")
    try:
        field_name, expected = data.subject_field, data.subject
    except ValueError:
        raise InvalidEvent(f"data: {event.type} names no application and no campaign") from None
    if event.subject != expected:
        raise InvalidEvent(f"subject: is not data.{field_name}")
    if key != expected.encode():
        raise InvalidEvent(f"key: is not the subject (data.{field_name})")


def decode_record(raw: bytes | str | None, *, topic: str, key: bytes | None) -> CloudEvent:
    """A record as a consumer reads it: a valid event (`decode_event`) that its topic
    and key may carry (`check_binding`); InvalidEvent otherwise, and nothing else."""
    event = decode_event(raw)
    check_binding(event, topic=topic, key=key)
    return event
