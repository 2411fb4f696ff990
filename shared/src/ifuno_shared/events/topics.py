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
