"""Whatever a producer writes, reading it gives a valid event or `InvalidEvent`, and
nothing else: property-based, from arbitrary bytes and from every contract type's
golden example mutated field by field. And each type is tied to its topic, source
and key: a record that breaks that is `InvalidEvent` too, naming the mismatch."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ifuno_shared.events import (
    EVENT_MODELS,
    CloudEvent,
    Email,
    InvalidEvent,
    Topic,
    check_binding,
    decode_event,
    decode_record,
    encode_event,
    envelope,
    new_event,
)
from pydantic import EmailStr, TypeAdapter, ValidationError

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).with_name("golden")
GOLDEN_EXAMPLES: dict[str, dict[str, Any]] = {
    path.stem: json.loads(path.read_bytes()) for path in sorted(GOLDEN.glob("*.json"))
}
PORTAL_TYPES = sorted(t for t in GOLDEN_EXAMPLES if EVENT_MODELS[t].topic is Topic.PORTAL)
HOSTILE_CHARACTERS = ["\x00", "\x01", "\x1b", "\x1f", "\x7f", "\ud800", "\udfff", "\n", "\u2028"]

PROPERTIES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

hostile_text = st.text(
    st.characters(exclude_categories=(), include_characters=HOSTILE_CHARACTERS), max_size=30
)
huge_numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.sampled_from([10**4000, -(10**4000), 2**63, -(2**63) - 1]),
    st.floats(allow_nan=False, allow_infinity=False),
)
json_values = st.recursive(
    st.none() | st.booleans() | huge_numbers | hostile_text,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=4)
    ),
    max_leaves=12,
)


def read(raw: bytes | str | None) -> CloudEvent | None:
    """decode_event, asserting it raises nothing but InvalidEvent (None then)."""
    try:
        event = decode_event(raw)
    except InvalidEvent as error:
        assert isinstance(error.reason, str) and error.reason
        return None
    assert json.loads(encode_event(event)) is not None, "a valid event re-encodes"
    return event


def dumps(document: object) -> bytes:
    """As a producer would send it; lone surrogates escaped (`\\ud800`), as JSON allows."""
    return json.dumps(document, ensure_ascii=True).encode()


@PROPERTIES
@given(st.binary(max_size=400))
def test_arbitrary_bytes_are_an_event_or_invalid(raw: bytes) -> None:
    read(raw)


@PROPERTIES
@given(st.text(st.characters(exclude_categories=()), max_size=200))
def test_arbitrary_text_even_with_lone_surrogates_is_an_event_or_invalid(raw: str) -> None:
    read(raw)


@PROPERTIES
@given(json_values)
def test_arbitrary_json_is_an_event_or_invalid(document: object) -> None:
    read(dumps(document))


def parsed(parse: Callable[[bytes], Any], raw: bytes) -> Any:
    try:
        return ("document", parse(raw))
    except (InvalidEvent, ValueError, RecursionError):
        return ("refused", None)


@PROPERTIES
@given(
    st.one_of(
        json_values.map(dumps),
        json_values.map(
            lambda value: json.dumps(value, ensure_ascii=False).encode("utf-8", "replace")
        ),
        st.binary(max_size=60),
        st.sampled_from(
            [b"NaN", b"[1e400, -0, 1.5e-320]", b'"\\ud83d\\ude00"', b"[" * 300 + b"]" * 300]
        ),
    )
)
def test_the_fast_parser_reads_what_the_standard_one_reads(raw: bytes) -> None:
    """Pydantic's parser, tried first, reads a record as the standard library does."""
    assert parsed(envelope._parse, raw) == parsed(envelope._parse_strictly, raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"type": ' + b"9" * 100_000 + b"}",
        b'{"type": 1e999999}',
        b'{"type": NaN}',
        b'{"type": -Infinity}',
        b'{"type": "\\u0000"}',
        b'{"type": "\\ud800"}',
        b"\xed\xa0\x80",
        b"\xef\xbb\xbf{}",
        b"",
        None,
    ],
    ids=[
        "deep list",
        "deep object",
        "huge integer",
        "huge float",
        "NaN",
        "Infinity",
        "escaped NUL",
        "escaped lone surrogate",
        "encoded surrogate",
        "BOM",
        "empty",
        "tombstone",
    ],
)
def test_each_hostile_record_kind_is_invalid(raw: bytes | None) -> None:
    with pytest.raises(InvalidEvent):
        decode_event(raw)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _set(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return document


def _delete(document: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return None
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    return document


@st.composite
def mutated_golden_examples(draw: st.DrawFn) -> bytes:
    event_type = draw(st.sampled_from(sorted(GOLDEN_EXAMPLES)))
    document = copy.deepcopy(GOLDEN_EXAMPLES[event_type])
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(document)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            document = _set(document, path, draw(json_values))
        elif action == "delete":
            document = _delete(document, path)
        else:
            target: Any = document
            for part in path:
                target = target[part]
            if isinstance(target, dict):
                target[draw(hostile_text)] = draw(json_values)
            elif isinstance(target, list):
                target.append(draw(json_values))
    return dumps(document)


@PROPERTIES
@given(mutated_golden_examples())
def test_every_contract_type_mutated_is_an_event_or_invalid(raw: bytes) -> None:
    event = read(raw)
    hypothesis.event("refused" if event is None else "read")
    if event is None:
        return
    assert read(encode_event(event)) == event, "what the kit re-encodes reads back the same"
    model = EVENT_MODELS[event.type]
    for topic in Topic:
        for key in (event.key.encode(), None, b"\xff", event.key.encode() + b"\x00"):
            try:
                decode_record(raw, topic=topic.value, key=key)
            except InvalidEvent:
                continue
            assert topic is model.topic and key == event.data.subject.encode()


@PROPERTIES
@given(st.sampled_from(PORTAL_TYPES), st.data())
def test_a_control_character_in_any_portal_text_is_invalid_and_named(
    event_type: str, data: st.DataObject
) -> None:
    document = copy.deepcopy(GOLDEN_EXAMPLES[event_type])
    texts = [
        path
        for path in _paths(document["data"])
        if path and isinstance(_get(document["data"], path), str)
    ]
    path = data.draw(st.sampled_from(texts))
    character = data.draw(
        st.sampled_from(["\x00", "\x01", "\x08", "\x1b", "\x1f", "\x7f", "\ud800", "\udc00"])
    )
    original = _get(document["data"], path)
    _set(document["data"], path, original[:1] + character + original[1:])
    with pytest.raises(InvalidEvent) as error:
        decode_event(dumps(document))
    assert error.value.reason.startswith("data." + ".".join(str(p) for p in path)) or (
        error.value.reason == "not JSON: a lone UTF-16 surrogate is not text"
    )


def _get(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


def test_a_withdrawal_reason_keeps_its_line_breaks_but_refuses_other_controls() -> None:
    document = copy.deepcopy(GOLDEN_EXAMPLES["ifuno.portal.application_withdrawn.v1"])
    document["data"]["reason"] = "Je renonce :\n\tdéménagement.\r\n"
    assert decode_event(dumps(document)) is not None
    document["data"]["reason"] = "Je renonce\x00"
    with pytest.raises(InvalidEvent, match=r"^data\.reason: must contain no control"):
        decode_event(dumps(document))


def test_no_reason_quotes_the_value_it_refuses() -> None:
    document = copy.deepcopy(GOLDEN_EXAMPLES["ifuno.portal.application_submitted.v1"])
    document["data"]["candidate"]["email"] = "Zoé<Secret>@example.org"
    with pytest.raises(InvalidEvent) as error:
        decode_event(dumps(document))
    assert error.value.reason == "data.candidate.email: invalid value (value_error)"
    document = copy.deepcopy(GOLDEN_EXAMPLES["ifuno.portal.application_submitted.v1"])
    document["data"]["candidate"]["first_name"] = "Zoé-Secret" * 30
    with pytest.raises(InvalidEvent) as error:
        decode_event(dumps(document))
    assert "Secret" not in error.value.reason
    assert error.value.reason.startswith("data.candidate.first_name: String should have at most")


# The binding of types to topics, sources and keys.


def golden_raw(event_type: str, **changes: Any) -> bytes:
    return dumps(GOLDEN_EXAMPLES[event_type] | changes)


@pytest.mark.parametrize("event_type", sorted(EVENT_MODELS))
def test_every_type_is_read_on_its_topic_with_its_source_keyed_by_its_subject(
    event_type: str,
) -> None:
    model = EVENT_MODELS[event_type]
    event = decode_event(golden_raw(event_type))
    assert event.source == model.source
    read_back = decode_record(
        golden_raw(event_type), topic=model.topic.value, key=event.data.subject.encode()
    )
    assert read_back == event
    for topic in set(Topic) - {model.topic}:
        with pytest.raises(InvalidEvent) as error:
            check_binding(event, topic=topic.value, key=event.key.encode())
        assert error.value.reason == f"type {event_type} is not accepted on {topic.value}"


def test_a_timeline_or_candidature_type_on_the_portal_topic_is_named() -> None:
    for event_type in (
        "ifuno.timeline.clock_advanced.v1",
        "ifuno.candidature.application_received.v1",
    ):
        event = decode_event(golden_raw(event_type))
        with pytest.raises(InvalidEvent) as error:
            decode_record(golden_raw(event_type), topic=Topic.PORTAL.value, key=event.key.encode())
        assert error.value.reason == f"type {event_type} is not accepted on ifuno.portal.v1"


def test_a_wrong_source_is_named() -> None:
    raw = golden_raw("ifuno.portal.application_submitted.v1", source="/ifuno/candidature")
    with pytest.raises(InvalidEvent) as error:
        decode_record(raw, topic=Topic.PORTAL.value, key=b"P-2027-000123")
    assert error.value.reason == (
        "source: ifuno.portal.application_submitted.v1 is accepted only from /ifuno/portal"
    )


@pytest.mark.parametrize(
    ("subject", "key", "reason"),
    [
        ("P-2027-000999", b"P-2027-000999", "subject: is not data.application_id"),
        (None, b"P-2027-000123", "subject: is not data.application_id"),
        ("P-2027-000123", b"P-2027-000999", "key: is not the subject (data.application_id)"),
        ("P-2027-000123", None, "key: is not the subject (data.application_id)"),
        ("P-2027-000123", b"\xff", "key: is not the subject (data.application_id)"),
    ],
)
def test_a_subject_or_key_that_is_not_the_application_is_named(
    subject: str | None, key: bytes | None, reason: str
) -> None:
    event_type = "ifuno.portal.application_submitted.v1"
    assert GOLDEN_EXAMPLES[event_type]["data"]["application_id"] == "P-2027-000123"
    raw = golden_raw(event_type, subject=subject)
    with pytest.raises(InvalidEvent) as error:
        decode_record(raw, topic=Topic.PORTAL.value, key=key)
    assert error.value.reason == reason


def test_a_timeline_event_is_keyed_by_its_campaign() -> None:
    event_type = "ifuno.timeline.clock_advanced.v1"
    campaign = GOLDEN_EXAMPLES[event_type]["data"]["campaign"]
    raw = golden_raw(event_type)
    decode_record(raw, topic=Topic.TIMELINE.value, key=str(campaign).encode())
    with pytest.raises(InvalidEvent, match=r"^key: is not the subject \(data\.campaign\)$"):
        decode_record(raw, topic=Topic.TIMELINE.value, key=b"P-2027-000123")


def test_a_producer_cannot_make_an_event_its_readers_would_refuse() -> None:
    event = decode_event(golden_raw("ifuno.portal.offer_answered.v1"))
    with pytest.raises(ValueError, match=r"must be data\.application_id"):
        new_event(event.data, subject="A-other")
    subject = event.data.subject
    with pytest.raises(ValueError, match=r"^time must be aware"):
        new_event(event.data, subject=subject, time=datetime(2027, 5, 2, 12, 0))
    for bad_id in ["", "a\nb", "x" * 201, "\ud800"]:
        with pytest.raises(ValueError, match=r"^event_id must be"):
            new_event(event.data, subject=subject, event_id=bad_id)
    assert new_event(event.data, subject=event.data.subject).key == event.data.subject


# Email addresses: the platform's own check agrees with pydantic's EmailStr.

EMAIL = TypeAdapter(Email)
EMAIL_STR = TypeAdapter(EmailStr)
TRICKY_ADDRESSES = [
    "anne.tual@example.org",
    "Anne.Tual@Example.ORG",
    "o'brien+ifuno@univ-lemans.fr",
    "a@b.co",
    "x@localhost",
    "x@mail.localhost",
    "x@example.test",
    "x@exampletest.org",
    "x@example.onion",
    "x@example",
    "x@example.c",
    "x@example.123",
    "x@-example.org",
    "x@example-.org",
    "x@ab--cd.org",
    "x@xn--zo-cja.fr",
    "x@xn--80ak6aa92e.com",
    "x@exa_mple.org",
    "x..y@example.org",
    ".x@example.org",
    "x.@example.org",
    " x@example.org",
    "x@example.org ",
    "Anne <anne@example.org>",
    '"anne tual"@example.org',
    "zoé@example.org",
    "zoe@exämple.org",
    "zoe@example.org.",
    "x@[127.0.0.1]",
    "@example.org",
    "x@",
    "x@@example.org",
    "a" * 64 + "@example.org",
    "a" * 65 + "@example.org",
    "x@" + "a" * 63 + ".org",
    "x@" + "a" * 64 + ".org",
    "x@" + ".".join(["a" * 63] * 3) + ".org",
    "x@" + ".".join(["a" * 63] * 4) + ".org",
    "a" * 60 + "@" + ".".join(["b" * 60] * 3) + ".org",
]
addresses = st.builds(
    "{}@{}.{}".format,
    st.text("aZ09.-_+'\"<> ()é\x00", max_size=10),
    st.lists(st.text("aZ09-_é", max_size=8), min_size=1, max_size=3).map(".".join),
    st.sampled_from(["org", "FR", "c", "123", "test", "localhost", "xn--p1ai", ""]),
)


def _email_as(adapter: TypeAdapter[str], value: str) -> str | None:
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return None


@pytest.mark.parametrize("address", TRICKY_ADDRESSES)
def test_an_email_address_is_taken_and_normalized_as_email_str_would(address: str) -> None:
    assert _email_as(EMAIL, address) == _email_as(EMAIL_STR, address)


@given(addresses)
@PROPERTIES
def test_any_email_address_is_taken_as_email_str_would(address: str) -> None:
    assert _email_as(EMAIL, address) == _email_as(EMAIL_STR, address)


@pytest.mark.parametrize("event_type", sorted(GOLDEN_EXAMPLES))
def test_an_event_a_producer_makes_is_the_event_its_readers_read(event_type: str) -> None:
    """`new_event` skips validation: what it builds must be what decoding gives."""
    read_back = decode_event(golden_raw(event_type))
    made = new_event(
        read_back.data, subject=read_back.data.subject, event_id=read_back.id, time=read_back.time
    )
    assert made == read_back
    assert decode_event(encode_event(made)) == made
