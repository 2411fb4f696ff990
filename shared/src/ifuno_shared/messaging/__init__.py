"""Effectively-once messaging on FastStream: outbox relay, idempotent consumers, dead letters."""

from ifuno_shared.messaging.consumer import Handled, Outcome, SubscriptionConsumer
from ifuno_shared.messaging.deadletter import DeadLetterWriter
from ifuno_shared.messaging.edge import make_broker, start_with_retry, subscribe_batches
from ifuno_shared.messaging.faults import describe, is_outage, through_outages
from ifuno_shared.messaging.relay import OutboxRelay
from ifuno_shared.messaging.subscription import (
    Handler,
    Subscription,
    UnitOfWorkFactory,
    handlers_by_annotation,
)

__all__ = [
    "DeadLetterWriter",
    "Handled",
    "Handler",
    "OutboxRelay",
    "Outcome",
    "Subscription",
    "SubscriptionConsumer",
    "UnitOfWorkFactory",
    "describe",
    "handlers_by_annotation",
    "is_outage",
    "make_broker",
    "start_with_retry",
    "subscribe_batches",
    "through_outages",
]
