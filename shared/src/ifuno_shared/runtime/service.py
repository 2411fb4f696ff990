"""One service process: HTTP, the outbox relay and the consumers on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import uvicorn
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from fastapi import APIRouter, FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ifuno_shared.http import create_app
from ifuno_shared.messaging import (
    DeadLetterWriter,
    OutboxRelay,
    Subscription,
    SubscriptionConsumer,
    make_producer,
)
from ifuno_shared.persistence import create_engine, create_session_factory
from ifuno_shared.persistence.unit_of_work import AbstractUnitOfWork, OnCommit
from ifuno_shared.runtime.settings import ServiceSettings

log = logging.getLogger(__name__)

UnitOfWorkClass = Callable[[async_sessionmaker[AsyncSession], OnCommit | None], AbstractUnitOfWork]


@dataclass
class ServiceContext:
    """What routers and background tasks of a running service may use."""

    name: str
    settings: ServiceSettings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    uow_factory: Callable[[], Any]
    producer: AIOKafkaProducer
    extras: dict[str, Any] = field(default_factory=dict)


RouterFactory = Callable[[ServiceContext], list[APIRouter]]
BackgroundTask = Callable[[ServiceContext], Awaitable[None]]
Hook = Callable[[ServiceContext], Awaitable[None]]


@dataclass
class ServiceDefinition:
    name: str
    settings: ServiceSettings
    migrations_dir: Path
    uow_class: UnitOfWorkClass
    subscriptions: list[Subscription] = field(default_factory=list)
    routers: RouterFactory | None = None
    background: list[BackgroundTask] = field(default_factory=list)
    on_startup: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)
    consumer_options: dict[str, Any] = field(default_factory=dict)


class ServiceRunner:
    """Starts and stops a service in the current event loop (the CLI and the tests)."""

    def __init__(self, definition: ServiceDefinition, *, http: bool = True) -> None:
        self.definition = definition
        self._http = http
        self._tasks: list[asyncio.Task[None]] = []
        self._server: uvicorn.Server | None = None
        self.consumers: list[SubscriptionConsumer] = []
        self.relay: OutboxRelay | None = None
        self.context: ServiceContext | None = None
        self.app: FastAPI | None = None

    @property
    def http_port(self) -> int:
        assert self._server is not None and self._server.servers, "HTTP server not started"
        socket = self._server.servers[0].sockets[0]
        return int(socket.getsockname()[1])

    async def start(self) -> None:
        definition, settings = self.definition, self.definition.settings
        engine = create_engine(settings.database_url)
        session_factory = create_session_factory(engine)
        bootstrap = settings.kafka_bootstrap
        self.relay = OutboxRelay(
            definition.name,
            engine,
            lambda: make_producer(bootstrap, client_id=f"ifuno-{definition.name}-relay"),
        )
        relay = self.relay
        producer = make_producer(bootstrap, client_id=f"ifuno-{definition.name}")
        await _start_with_retry(producer, definition.name)

        def uow_factory() -> AbstractUnitOfWork:
            return definition.uow_class(session_factory, relay.wake)

        self.context = ServiceContext(
            name=definition.name,
            settings=settings,
            engine=engine,
            session_factory=session_factory,
            uow_factory=uow_factory,
            producer=producer,
        )
        for hook in definition.on_startup:
            await hook(self.context)
        dead_letters = DeadLetterWriter(producer)
        self.consumers = [
            SubscriptionConsumer(
                bootstrap, subscription, uow_factory, dead_letters, **definition.consumer_options
            )
            for subscription in definition.subscriptions
        ]
        self._spawn(relay.run(), "relay")
        for consumer in self.consumers:
            self._spawn(consumer.run(), f"consumer-{consumer.name}")
        for task in definition.background:
            self._spawn(task(self.context), f"background-{getattr(task, '__name__', 'task')}")
        if self._http:
            await self._start_http()

    async def _start_http(self) -> None:
        assert self.context is not None
        context, settings = self.context, self.definition.settings
        routers = self.definition.routers(context) if self.definition.routers else []
        self.app = create_app(
            f"ifuno-{self.definition.name}", routers, self._readiness, settings.api_tokens
        )
        self.app.state.context = context
        config = uvicorn.Config(
            self.app,
            host=settings.http_host,
            port=settings.http_port,
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        self._spawn(self._server.serve(), "http")
        while not self._server.started:
            if self._tasks[-1].done():
                self._tasks[-1].result()
            await asyncio.sleep(0.02)

    async def _readiness(self) -> dict[str, bool]:
        assert self.context is not None
        checks = {"database": False, "broker": False}
        with contextlib.suppress(Exception):
            async with self.context.engine.connect() as connection:
                await asyncio.wait_for(connection.execute(text("SELECT 1")), 2)
            checks["database"] = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.context.producer.client.fetch_all_metadata(), 2)
            checks["broker"] = True
        return checks

    def _spawn(self, coroutine: Awaitable[None], name: str) -> None:
        async def guarded() -> None:
            try:
                await coroutine
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s of %s stopped on an error", name, self.definition.name)
                raise

        self._tasks.append(asyncio.create_task(guarded(), name=name))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        for consumer in self.consumers:
            await consumer.stop()
        if self.relay is not None:
            await self.relay.stop()
        await asyncio.sleep(0)
        for task in self._tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self.relay is not None:
            await self.relay.drain(timeout=5.0)
        if self.context is not None:
            for hook in self.definition.on_shutdown:
                await hook(self.context)
            with contextlib.suppress(Exception):
                await self.context.producer.stop()
            await self.context.engine.dispose()

    async def wait_until_consuming(self) -> None:
        """Wait until every consumer has partitions assigned (tests bound it with a timeout)."""
        await asyncio.gather(*(consumer.ready.wait() for consumer in self.consumers))

    async def serve_forever(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await self.start()
        log.info("%s running", self.definition.name)
        failed = asyncio.ensure_future(self._first_failure())
        waiter = asyncio.ensure_future(stop.wait())
        await asyncio.wait({failed, waiter}, return_when=asyncio.FIRST_COMPLETED)
        await self.stop()
        if failed.done() and failed.exception() is not None:
            raise SystemExit(1)
        failed.cancel()
        waiter.cancel()

    async def _first_failure(self) -> None:
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


async def _start_with_retry(producer: AIOKafkaProducer, name: str) -> None:
    backoff = 0.2
    while True:
        try:
            await producer.start()
            return
        except KafkaError as exc:
            log.warning("%s: broker not reachable yet (%s), retrying", name, type(exc).__name__)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
