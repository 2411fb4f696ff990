"""Every contract event type: a golden example that parses and re-serialises unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ifuno_shared.events import EVENT_MODELS, InvalidEvent, decode_event, encode_event

pytestmark = pytest.mark.unit

GOLDEN = Path(__file__).with_name("golden")


def golden(event_type: str) -> bytes:
    path = GOLDEN / f"{event_type}.json"
    assert path.exists(), f"add a golden example for {event_type} at {path}"
    return path.read_bytes()


@pytest.mark.parametrize("event_type", sorted(EVENT_MODELS))
def test_golden_example_round_trips(event_type: str) -> None:
    raw = golden(event_type)
    event = decode_event(raw)
    assert isinstance(event.data, EVENT_MODELS[event_type])
    assert event.type == event_type
    assert json.loads(encode_event(event)) == json.loads(raw)


def test_every_golden_example_names_a_known_type() -> None:
    stray = {path.stem for path in GOLDEN.glob("*.json")} - set(EVENT_MODELS)
    assert not stray


def submitted() -> dict:
    return json.loads(golden("ifuno.portal.application_submitted.v1"))


def reason_for(document: object) -> str:
    raw = document if isinstance(document, bytes) else json.dumps(document).encode()
    with pytest.raises(InvalidEvent) as error:
        decode_event(raw)
    return error.value.reason


def test_a_record_that_is_not_json_is_invalid() -> None:
    assert reason_for(b"\xff{oops").startswith("not JSON")


@pytest.mark.parametrize(
    "hostile",
    [b"[" * 5000 + b"]" * 5000, b'{"type": ' + b"9" * 5000 + b"}", b"\xff\xfe", b"\x00"],
    ids=["deep nesting", "huge number", "not UTF-8", "NUL"],
)
def test_a_hostile_record_is_invalid_and_nothing_else(hostile: bytes) -> None:
    with pytest.raises(InvalidEvent):
        decode_event(hostile)


def test_a_json_value_that_is_not_an_object_is_invalid() -> None:
    assert reason_for([1, 2]) == "not a JSON object"


def test_a_missing_type_is_named() -> None:
    document = submitted()
    del document["type"]
    assert reason_for(document) == "type: missing or not a string"


def test_an_unknown_type_is_named() -> None:
    document = submitted() | {"type": "ifuno.portal.application_eaten.v1"}
    assert reason_for(document) == "type: unknown event type 'ifuno.portal.application_eaten.v1'"


def test_missing_data_is_named() -> None:
    document = submitted()
    del document["data"]
    assert reason_for(document) == "data: missing"


def test_an_invalid_field_is_named_with_its_path() -> None:
    document = submitted()
    document["data"]["level"] = "M3"
    assert reason_for(document).startswith("data.level:")
    document = submitted()
    document["data"]["candidate"]["email"] = "not an address"
    assert reason_for(document).startswith("data.candidate.email:")


def test_a_portal_event_with_an_extra_field_is_refused() -> None:
    document = submitted()
    document["data"]["nickname"] = "Lolo"
    assert reason_for(document).startswith("data.nickname:")


def test_a_service_event_with_an_extra_field_is_read_for_forward_compatibility() -> None:
    document = json.loads(golden("ifuno.selection.admitted.v1"))
    document["data"]["added_later"] = True
    assert decode_event(json.dumps(document).encode()).data.application_id


def test_a_naive_submission_time_is_refused() -> None:
    document = submitted()
    document["data"]["submitted_at"] = "2027-05-02T14:03:00"
    assert reason_for(document).startswith("data.submitted_at:")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("submitted_at",), 1809266580),
        (("submitted_at",), 1809266580.5),
        (("submitted_at",), "1809266580"),
        (("employed",), "on"),
        (("vapp",), 0),
        (("campaign",), "2027"),
        (("campaign",), 2027.0),
        (("training_experience_years",), "4"),
        (("candidate", "sms_opt_in"), "yes"),
        (("documents", 0, "size_bytes"), "183422"),
    ],
    ids=lambda part: repr(part),
)
def test_a_portal_value_of_the_wrong_json_type_is_refused_not_converted(
    path: tuple[str | int, ...], value: object
) -> None:
    """A Unix time is not read as an instant, nor `"yes"` as true: the portal's fields
    are exactly JSON's strings, booleans and integers, as the contract shows them."""
    document = submitted()
    target = document["data"]
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    assert reason_for(document).startswith("data." + ".".join(map(str, path)) + ":")


@pytest.mark.parametrize(
    "instant",
    [1809266580, "1809266580", "2027-05-02T14:03+02:00", "2027-05-02", "2027-05-02T14:03:00"],
    ids=["number", "digits", "no seconds", "a date", "no offset"],
)
def test_an_envelope_time_is_an_rfc3339_string_and_nothing_else(instant: object) -> None:
    assert reason_for(submitted() | {"time": instant}).startswith(
        "time: an RFC 3339 date-time string is expected"
    )


@pytest.mark.parametrize(
    "instant", ["2027-05-02T12:03:00Z", "2027-05-02 14:03:00.250+02:00", "2027-05-02t12:03:00z"]
)
def test_every_rfc3339_form_is_read(instant: str) -> None:
    event = decode_event(json.dumps(submitted() | {"time": instant}).encode())
    assert event.time.utcoffset() is not None


@pytest.mark.parametrize(
    "checksum", ["abc", "0" * 63, "0" * 65, "g" * 64, "0" * 64 + "\n", "\u0660" * 64]
)
def test_a_bad_checksum_is_refused(checksum: str) -> None:
    document = submitted()
    document["data"]["documents"][0]["sha256"] = checksum
    assert reason_for(document) == "data.documents.0.sha256: must be 64 hexadecimal characters"


def test_a_checksum_in_capitals_is_read_in_lower_case() -> None:
    document = submitted()
    document["data"]["documents"][0]["sha256"] = "AB" * 32
    event = decode_event(json.dumps(document).encode())
    assert event.data.documents[0].sha256 == "ab" * 32


def test_another_cloudevents_version_is_refused() -> None:
    assert reason_for(submitted() | {"specversion": "0.3"}).startswith("specversion:")


def test_a_naive_envelope_time_is_refused() -> None:
    assert reason_for(submitted() | {"time": "2027-05-02T14:03:00"}).startswith("time:")


def test_the_asyncapi_document_is_up_to_date() -> None:
    from ifuno_shared.events.asyncapi import document

    committed = json.loads((Path(__file__).parents[2] / "docs" / "asyncapi.json").read_text())
    assert committed == json.loads(json.dumps(document())), "run `make contracts`"
    assert set(committed["components"]["messages"]) == set(EVENT_MODELS)


def test_every_reference_in_the_asyncapi_document_resolves_inside_it() -> None:
    from ifuno_shared.events.asyncapi import document

    whole = document()

    def references(node: object) -> list[str]:
        if isinstance(node, dict):
            own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
            return own + [ref for value in node.values() for ref in references(value)]
        if isinstance(node, list):
            return [ref for value in node for ref in references(value)]
        return []

    def resolves(ref: str) -> bool:
        node: object = whole
        for part in ref.removeprefix("#/").split("/"):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return ref.startswith("#/")

    refs = references(whole)
    assert refs and [ref for ref in refs if not resolves(ref)] == []
