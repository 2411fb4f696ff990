"""Kafka topic names: part of the public contract (CONTRACTS.md)."""

from enum import StrEnum


class Topic(StrEnum):
    PORTAL = "ifuno.portal.v1"
    CANDIDATURE = "ifuno.candidature.v1"
    SELECTION = "ifuno.selection.v1"
    NOTIFICATION = "ifuno.notification.v1"
    TIMELINE = "ifuno.timeline.v1"
    DEADLETTER = "ifuno.deadletter.v1"


PUBLIC_TOPICS: tuple[Topic, ...] = tuple(Topic)

CONSUMER_GROUPS: dict[str, tuple[Topic, ...]] = {
    "candidature": (Topic.PORTAL, Topic.TIMELINE, Topic.SELECTION),
    "selection": (Topic.CANDIDATURE, Topic.PORTAL, Topic.TIMELINE),
    "notification": (Topic.CANDIDATURE, Topic.SELECTION, Topic.TIMELINE),
    "dashboard": (Topic.CANDIDATURE, Topic.SELECTION, Topic.NOTIFICATION, Topic.TIMELINE),
    "dashboard-deadletters": (Topic.DEADLETTER,),
}
"""Every consumer group of the platform and the topics it reads, declared once: the
services subscribe with these, and the dashboard measures their lag from them."""
