"""Kafka topic names: part of the public contract (CONTRACTS.md)."""

from enum import StrEnum


class Topic(StrEnum):
    PORTAL = "ifuno.portal.v1"
    CANDIDATURE = "ifuno.candidature.v1"
    SELECTION = "ifuno.selection.v1"
    NOTIFICATION = "ifuno.notification.v1"
    TIMELINE = "ifuno.timeline.v1"
    DEADLETTER = "ifuno.deadletter.v1"
    CONTACTS = "ifuno.contacts.v1"
    """Compacted: each application's contact details (key = application id), written by
    candidature only; erasure writes a tombstone (the key with no value)."""


PUBLIC_TOPICS: tuple[Topic, ...] = tuple(Topic)

CONSUMER_GROUPS: dict[str, tuple[Topic, ...]] = {
    "candidature": (Topic.PORTAL, Topic.TIMELINE, Topic.SELECTION),
    "selection": (Topic.CANDIDATURE, Topic.PORTAL, Topic.TIMELINE),
    "notification": (Topic.CANDIDATURE, Topic.SELECTION, Topic.TIMELINE, Topic.CONTACTS),
    "dashboard": (Topic.CANDIDATURE, Topic.SELECTION, Topic.NOTIFICATION, Topic.TIMELINE),
    "dashboard-deadletters": (Topic.DEADLETTER,),
}
"""Every consumer group of the platform and the topics it reads, declared once: the
services subscribe with these, and the dashboard measures their lag from them."""

TOMBSTONE_TOPICS: frozenset[Topic] = frozenset({Topic.CONTACTS, Topic.DEADLETTER})
"""Where a record with a key and no value is a tombstone (an erasure) that consumers
skip, not a malformed event to dead-letter."""

COMPACTED_TOPICS: frozenset[Topic] = frozenset({Topic.CONTACTS})
"""Created with `cleanup.policy=compact`: the latest record per key is kept."""
