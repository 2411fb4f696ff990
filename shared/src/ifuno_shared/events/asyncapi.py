"""The AsyncAPI 3.0 document of the platform's events, built from the models themselves.

python -m ifuno_shared.events.asyncapi > docs/asyncapi.json   (make contracts)
"""

from __future__ import annotations

import json
from typing import Any

from ifuno_shared.events.registry import ALL_EVENT_MODELS
from ifuno_shared.events.topics import Topic

PRODUCERS = {
    Topic.PORTAL: "the e-candidature portal",
    Topic.CANDIDATURE: "candidature",
    Topic.SELECTION: "selection",
    Topic.NOTIFICATION: "notification",
    Topic.TIMELINE: "timeline",
    Topic.DEADLETTER: "any consumer (and the dashboard's erasure tombstones)",
    Topic.CONTACTS: "candidature (compacted; an erasure writes a tombstone)",
}

DEAD_LETTER_HEADERS = {
    "type": "object",
    "properties": {
        name: {"type": "string", "description": description}
        for name, description in {
            "x-error": (
                "why the record could not be processed: the field at fault and what it"
                " expects, the topic, source, subject or key it breaks, or the error's"
                " class and SQLSTATE; never a value of the record"
            ),
            "x-original-topic": "where the record was read",
            "x-original-partition": "its partition",
            "x-original-offset": "its offset",
            "x-consumer": "the consumer group that gave up on it",
        }.items()
    },
}


SCHEMAS = "#/components/schemas/"


def _data_schema(model: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    """The model's schema, the types it nests hoisted into `schemas`: a `$defs` inside a
    message would leave its `$ref`s pointing nowhere for AsyncAPI tools."""
    data = dict(model.model_json_schema(mode="serialization", ref_template=SCHEMAS + "{model}"))
    for name, schema in data.pop("$defs", {}).items():
        if schemas.setdefault(name, schema) != schema:
            raise ValueError(f"two different nested types are both named {name}")
    return data


def _message(model: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    data = _data_schema(model, schemas)
    return {
        "name": model.event_type,
        "title": model.__name__,
        "summary": (model.__doc__ or "").strip().split("\n")[0] or model.event_type,
        "contentType": "application/cloudevents+json",
        "headers": {
            "type": "object",
            "properties": {"content-type": {"const": "application/cloudevents+json"}},
        },
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": "the application id (the campaign year on the timeline)",
                }
            }
        },
        "payload": {
            "type": "object",
            "required": ["specversion", "id", "source", "type", "time", "datacontenttype", "data"],
            "properties": {
                "specversion": {"const": "1.0"},
                "id": {"type": "string", "description": "unique per event: the dedup key"},
                "source": {"const": model.source},
                "type": {"const": model.event_type},
                "time": {"type": "string", "format": "date-time"},
                "subject": {"type": "string"},
                "datacontenttype": {"const": "application/json"},
                "data": data,
            },
        },
    }


def document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    messages = {model.event_type: _message(model, schemas) for model in ALL_EVENT_MODELS}
    channels: dict[str, Any] = {}
    for topic in Topic:
        names = sorted(m.event_type for m in ALL_EVENT_MODELS if m.topic is topic)
        channels[topic.value] = {
            "address": topic.value,
            "description": f"written by {PRODUCERS[topic]}",
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in names},
        }
    channels[Topic.DEADLETTER.value]["messages"] = {
        "dead_letter": {
            "name": "dead_letter",
            "summary": "the original value and key, unchanged, with why and where from",
            "headers": DEAD_LETTER_HEADERS,
            "payload": {"description": "the original record value, as it was"},
        }
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "IFUNO admissions platform events",
            "version": "1",
            "description": "CloudEvents 1.0 in structured JSON mode on Kafka. "
            "Fields may be added, never renamed or removed; a breaking change is a new "
            "`...v2` type published beside the old one.",
        },
        "channels": channels,
        "components": {"messages": messages, "schemas": schemas},
    }


def main() -> None:
    print(json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False))


if __name__ == "__main__":
    main()
