"""What a service consumes: topics, and a plain async handler per event model."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ifuno_shared.events import CloudEvent, EventData, Topic
from ifuno_shared.persistence.unit_of_work import AbstractUnitOfWork

Handler = Callable[[CloudEvent, Any], Awaitable[None]]
UnitOfWorkFactory = Callable[[], AbstractUnitOfWork]


@dataclass(frozen=True)
class Subscription:
    """`name` is both the consumer group id and the inbox's consumer name."""

    name: str
    topics: list[Topic]
    handlers: Mapping[type[EventData], Handler] = field(default_factory=dict)

    def handler_for(self, event: CloudEvent) -> Handler | None:
        return self.handlers.get(type(event.data))
