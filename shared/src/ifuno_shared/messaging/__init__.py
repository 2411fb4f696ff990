"""Effectively-once messaging: outbox relay, idempotent consumers, dead letters."""

from ifuno_shared.messaging.consumer import SubscriptionConsumer
from ifuno_shared.messaging.deadletter import DeadLetterWriter
from ifuno_shared.messaging.producer import make_producer
from ifuno_shared.messaging.relay import OutboxRelay
from ifuno_shared.messaging.subscription import Handler, Subscription, UnitOfWorkFactory

__all__ = [
    "DeadLetterWriter",
    "Handler",
    "OutboxRelay",
    "Subscription",
    "SubscriptionConsumer",
    "UnitOfWorkFactory",
    "make_producer",
]
