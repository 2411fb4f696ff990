"""Effectively-once messaging on FastStream: outbox relay, idempotent consumers, dead letters."""

from ifuno_shared.messaging.consumer import SubscriptionConsumer
from ifuno_shared.messaging.deadletter import DeadLetterWriter
from ifuno_shared.messaging.edge import make_broker, start_with_retry, subscribe_batches
from ifuno_shared.messaging.relay import OutboxRelay
from ifuno_shared.messaging.subscription import (
    Handler,
    Subscription,
    UnitOfWorkFactory,
    handlers_by_annotation,
)

__all__ = [
    "DeadLetterWriter",
    "Handler",
    "OutboxRelay",
    "Subscription",
    "SubscriptionConsumer",
    "UnitOfWorkFactory",
    "handlers_by_annotation",
    "make_broker",
    "start_with_retry",
    "subscribe_batches",
]
