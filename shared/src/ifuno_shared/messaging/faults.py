"""Which failures are outages, how long to wait through them, and how to tell any
failure without the data it carries.

An outage is the infrastructure's fault, not the record's: it is waited out (with
exponential backoff, capped) and dead-letters nothing. Anything else a record
causes is retried a few times, then dead-lettered. Either way what leaves the
process (a dead letter's `x-error`, a log line) names the error's class, its
SQLSTATE and the fields at fault, never a value: a database's message may quote
the row it refused, and that row may hold a candidate's name.
"""

from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar

import asyncpg
from aiokafka.errors import KafkaError
from pydantic import ValidationError
from sqlalchemy import exc as sa
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_never,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base

from ifuno_shared.events import describe_validation

T = TypeVar("T")

OUTAGE_SQLSTATE_CLASSES = frozenset({"08", "53", "57"})
"""PostgreSQL's connection exceptions (08), insufficient resources (53: disk full, out
of memory, too many connections) and operator intervention (57: shutdown, restart)."""

LOST_RACE_SQLSTATES = frozenset({"40001", "40P01"})
"""A serialization failure or a deadlock: the transaction lost a race with another one
(two instances on one level, a staff command) and succeeds when tried again. Waited out
like an outage: never the record's fault, so never dead-lettered (an offer's answer
dead-lettered for a deadlock would wait for an operator)."""

_MAX_CHAIN = 8


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception, then what it wraps (SQLAlchemy's `orig`, `__cause__`, `__context__`)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(seen) < _MAX_CHAIN:
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        if isinstance(orig, BaseException) and id(orig) not in seen:
            current = orig
        elif current.__cause__ is not None:
            current = current.__cause__
        elif not current.__suppress_context__:
            current = current.__context__
        else:
            current = None


def sqlstate(exc: BaseException) -> str | None:
    """The PostgreSQL SQLSTATE of a database error (asyncpg's or SQLAlchemy's wrapper)."""
    for cause in causes(exc):
        code = getattr(cause, "sqlstate", None) or getattr(cause, "pgcode", None)
        if isinstance(code, str) and len(code) == 5:
            return code
    return None


def _is_bad_input(exc: BaseException) -> bool:
    """asyncpg refuses a value it cannot encode with an InterfaceError that is also a
    ValueError (its own `DataError`): the record's fault, though it looks like the link's."""
    return any(isinstance(cause, ValueError) for cause in causes(exc))


def is_outage(exc: BaseException) -> bool:
    """Whether the database or the broker is away, or the transaction lost a race
    (wait, then again), rather than the record bad."""
    if not isinstance(exc, Exception):
        return False
    code = sqlstate(exc)
    if code is not None:
        return code[:2] in OUTAGE_SQLSTATE_CLASSES or code in LOST_RACE_SQLSTATES
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa.InterfaceError | asyncpg.InterfaceError):
        return not _is_bad_input(exc)
    return isinstance(
        exc,
        ConnectionError
        | TimeoutError
        | socket.gaierror
        | KafkaError
        | sa.TimeoutError
        | sa.DisconnectionError,
    )


def describe(exc: BaseException) -> str:
    """The error told without values: its class, SQLSTATE, the fields a validation
    refused. Never `str(exc)`: a database error's text may quote the refused row."""
    name = type(exc).__name__
    if isinstance(exc, ValidationError):
        return f"{name} ({describe_validation(exc, f'{exc.title}.')})"
    code = sqlstate(exc)
    return f"{name} (SQLSTATE {code})" if code else name


def traceback_without_values(exc: BaseException) -> str:
    """A traceback as Python prints it (causes first), each exception told by
    `describe` instead of its message."""
    chain = list(causes(exc))
    parts: list[str] = []
    for position, cause in enumerate(reversed(chain)):
        if position:
            parts.append("\nwhich led to:\n")
        parts.append("Traceback (most recent call last):\n")
        parts.extend(traceback.format_tb(cause.__traceback__))
        parts.append(describe(cause) + "\n")
    return "".join(parts)


def backoff(initial: float, cap: float) -> wait_base:
    """Exponential waits from `initial` up to `cap`, with jitter (instances that fail
    together do not retry together)."""
    return wait_exponential_jitter(multiplier=initial, max=cap, jitter=initial)


async def call_retrying(retrying: AsyncRetrying, call: Callable[[], Awaitable[T]]) -> T:
    """Await `call()` under `retrying` (tenacity's own `__call__` would not await a
    lambda that returns a coroutine: this form cannot be misused so)."""
    async for attempt in retrying:
        with attempt:
            return await call()
    raise AssertionError("tenacity ended without a result or an error")


async def through_outages(
    call: Callable[[], Awaitable[T]],
    *,
    what: str,
    log: logging.Logger,
    initial: float = 0.1,
    cap: float = 5.0,
) -> T:
    """Run `call` until it returns or fails for another reason than an outage; an
    outage is waited out, however long, with backoff. Other errors are raised."""

    def warn(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        log.warning(
            "%s: infrastructure unavailable (%s), try %d, next in %.3f s",
            what,
            describe(failure) if failure else "?",
            state.attempt_number,
            state.upcoming_sleep,
        )

    retrying = AsyncRetrying(
        retry=retry_if_exception(is_outage),
        wait=backoff(initial, cap),
        stop=stop_never,
        before_sleep=warn,
        reraise=True,
    )
    return await call_retrying(retrying, call)
