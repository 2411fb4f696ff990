"""What a service consumes: topics, and plain async handlers chosen by their annotation.

A handler says which events it takes in its signature, `event: CloudEvent[Received]`
(or a union, `CloudEvent[Received | Completed]`): `handlers_by_annotation` reads it,
so the dispatch table cannot disagree with the types, and `event.data` is typed in
the handler without a single `isinstance`.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ifuno_shared.events import CloudEvent, EventData, Topic
from ifuno_shared.persistence.unit_of_work import AbstractUnitOfWork

Handler = Callable[[Any, Any], Awaitable[None]]
UnitOfWorkFactory = Callable[[], AbstractUnitOfWork]


class HandlerSignatureError(TypeError):
    """A handler's first parameter is not annotated `CloudEvent[SomeEventData]`."""


def event_types_of(handler: Handler) -> tuple[type[EventData], ...]:
    """The event data classes a handler's first parameter is annotated with."""
    parameters = list(inspect.signature(handler).parameters)
    if not parameters:
        raise HandlerSignatureError(f"{handler.__qualname__} takes no event")
    hints = typing.get_type_hints(handler)
    annotation = hints.get(parameters[0])
    metadata = getattr(annotation, "__pydantic_generic_metadata__", None)
    if metadata is None or metadata["origin"] is not CloudEvent or not metadata["args"]:
        raise HandlerSignatureError(
            f"{handler.__qualname__}: annotate its event as CloudEvent[<event data class>]"
        )
    (argument,) = metadata["args"]
    members = typing.get_args(argument) if isinstance(argument, types.UnionType) else ()
    found = members or (argument,)
    if not all(isinstance(t, type) and issubclass(t, EventData) for t in found):
        raise HandlerSignatureError(f"{handler.__qualname__}: {argument} is not event data")
    return found


def handlers_by_annotation(*handlers: Handler) -> dict[type[EventData], Handler]:
    """The dispatch table of a service's handlers; one event type, one handler."""
    table: dict[type[EventData], Handler] = {}
    for handler in handlers:
        for event_type in event_types_of(handler):
            if event_type in table:
                raise HandlerSignatureError(
                    f"{event_type.__name__} is handled by both "
                    f"{table[event_type].__qualname__} and {handler.__qualname__}"
                )
            table[event_type] = handler
    return table


@dataclass(frozen=True)
class Subscription:
    """`name` is both the consumer group id and the inbox's consumer name; the topics
    are declared here once (the lag measure reads them from the subscriptions)."""

    name: str
    topics: list[Topic]
    handlers: Mapping[type[EventData], Handler] = field(default_factory=dict)

    def handler_for(self, event: CloudEvent) -> Handler | None:
        return self.handlers.get(type(event.data))
