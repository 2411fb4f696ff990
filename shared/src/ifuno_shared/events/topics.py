"""Kafka topic names: part of the public contract (CONTRACTS.md)."""

from dataclasses import dataclass
from datetime import timedelta
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
    # Contacts first: a delivery is applied in this order (`SubscriptionConsumer`).
    "notification": (Topic.CONTACTS, Topic.CANDIDATURE, Topic.SELECTION, Topic.TIMELINE),
    "dashboard": (Topic.CANDIDATURE, Topic.SELECTION, Topic.NOTIFICATION, Topic.TIMELINE),
    "dashboard-deadletters": (Topic.DEADLETTER,),
}
"""Every consumer group of the platform and the topics it reads, declared once: the
services subscribe with these, and the dashboard measures their lag from them."""


THIRTEEN_MONTHS = timedelta(days=395)
"""How long the portal's and the services' records stay on their topics: within the longest
lawful keeping of personal data (a campaign's data from its opening, late April of year Y,
until 1 September of Y+1: about 16 months)."""

DEAD_LETTER_KEEP = timedelta(days=30)
"""Dead letters hold a record as it came: operators handle them within days, so they go sooner."""

SEGMENT = timedelta(days=1)
"""A topic's log rolls daily: Kafka deletes whole segments, so a record outlives its
retention by at most a day."""

TOMBSTONE_KEEP = timedelta(days=30)
"""A compacted topic keeps a tombstone (an erased key) this long, so a consumer that lags up
to the inbox's window still sees the deletion; the tombstone holds no personal data."""


@dataclass(frozen=True)
class Retention:
    """How long a topic keeps its records; `compact`: the newest record per key is kept
    until a tombstone erases it, and never past `keep` either."""

    keep: timedelta
    compact: bool = False

    def configs(self) -> dict[str, str]:
        """The topic's Kafka configs (`kafka-topics.sh --config`, CreateTopics)."""
        configs = {"retention.ms": _ms(self.keep), "segment.ms": _ms(SEGMENT)}
        if self.compact:
            configs |= {
                "cleanup.policy": "compact,delete",
                "delete.retention.ms": _ms(TOMBSTONE_KEEP),
                "max.compaction.lag.ms": _ms(SEGMENT),
            }
        return configs


def _ms(duration: timedelta) -> str:
    return str(int(duration.total_seconds() * 1000))


RETENTION: dict[Topic, Retention] = {
    Topic.PORTAL: Retention(THIRTEEN_MONTHS),
    Topic.CANDIDATURE: Retention(THIRTEEN_MONTHS),
    Topic.SELECTION: Retention(THIRTEEN_MONTHS),
    Topic.NOTIFICATION: Retention(THIRTEEN_MONTHS),
    Topic.TIMELINE: Retention(THIRTEEN_MONTHS),
    # Compacted too: an erasure's tombstone removes the application's dead letters.
    Topic.DEADLETTER: Retention(DEAD_LETTER_KEEP, compact=True),
    Topic.CONTACTS: Retention(THIRTEEN_MONTHS, compact=True),
}
"""Every topic of the platform and how long it keeps records, declared once: the local
broker (`ifuno_tools.local.kafka`) and `deploy/create-topics.sh` create topics with these."""

COMPACTED_TOPICS: frozenset[Topic] = frozenset(
    Topic(topic) for topic, retention in RETENTION.items() if retention.compact
)
"""Where a record with a key and no value is a tombstone (an erasure) that consumers
skip, not a malformed event to dead-letter; the latest record per key is kept."""

TOMBSTONE_TOPICS = COMPACTED_TOPICS
