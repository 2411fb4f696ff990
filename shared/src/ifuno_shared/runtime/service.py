"""One service process: HTTP, the outbox relay and the consumers on one event loop.

The FastAPI app and the FastStream broker share one lifespan: entering it starts the
broker (with the consumers' subscribers declared on it), the relay and the background
tasks; leaving it stops the broker gracefully (FastStream waits for a batch in
progress), then the rest. FastStream's own FastAPI plugin is deprecated in 0.7 (moved
to a separate package), so the lifespan is the kit's, a dozen lines.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import uvicorn
from fastapi import APIRouter, FastAPI
from faststream.kafka import KafkaBroker
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from ifuno_shared.http import create_app
from ifuno_shared.messaging import (
    DeadLetterWriter,
    OutboxRelay,
    Subscription,
    SubscriptionConsumer,
    make_broker,
    start_with_retry,
)
from ifuno_shared.messaging.faults import describe, traceback_without_values
from ifuno_shared.persistence import create_engine, create_session_factory
from ifuno_shared.persistence.unit_of_work import AbstractUnitOfWork, OnCommit
from ifuno_shared.runtime.housekeeping import run_housekeeping
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
    broker: KafkaBroker
    extras: dict[str, Any] = field(default_factory=dict)


RouterFactory = Callable[[ServiceContext], list[APIRouter]]
BackgroundTask = Callable[[ServiceContext], Awaitable[None]]
Hook = Callable[[ServiceContext], Awaitable[None]]
SubscriberDeclaration = Callable[[ServiceContext], None]
"""Declares a subscriber of its own on `context.broker` (with `messaging.subscribe_batches`)."""


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
    subscribers: list[SubscriberDeclaration] = field(default_factory=list)
    consumer_options: dict[str, Any] = field(default_factory=dict)


class ServiceRunner:
    """Starts and stops a service in the current event loop (the CLI and the tests)."""

    def __init__(self, definition: ServiceDefinition, *, http: bool = True) -> None:
        self.definition = definition
        self._http = http
        self._tasks: list[asyncio.Task[None]] = []
        self.task_health: dict[str, bool] = {}
        """Each background loop: False while it waits to be started again after a failure."""
        self._server: uvicorn.Server | None = None
        self.consumers: list[SubscriptionConsumer] = []
        self.relay: OutboxRelay | None = None
        self.context: ServiceContext | None = None
        self.app: FastAPI | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._lifespan_context: contextlib.AbstractAsyncContextManager[Any] | None = None
        """The app's own lifespan, entered here so a service runs the same with or
        without its HTTP server (uvicorn runs with lifespan off)."""

    @property
    def http_port(self) -> int:
        assert self._server is not None and self._server.servers, "HTTP server not started"
        socket = self._server.servers[0].sockets[0]
        return int(socket.getsockname()[1])

    async def start(self) -> None:
        definition, settings = self.definition, self.definition.settings
        engine = create_engine(settings.database_url, timeouts=settings.database_timeouts)
        session_factory = create_session_factory(engine)
        bootstrap = settings.kafka_bootstrap
        self.relay = relay = OutboxRelay(
            definition.name,
            engine,
            # Counted by the relay itself (ifuno_outbox_published_total): FastStream's
            # middleware would double a publish's CPU cost for a second count.
            lambda: make_broker(
                bootstrap, client_id=f"ifuno-{definition.name}-relay", metrics=False
            ),
            linger=settings.outbox_relay_linger_ms / 1000,
        )
        broker = make_broker(bootstrap, client_id=f"ifuno-{definition.name}")

        def uow_factory() -> AbstractUnitOfWork:
            return definition.uow_class(session_factory, relay.wake)

        self.context = context = ServiceContext(
            name=definition.name,
            settings=settings,
            engine=engine,
            session_factory=session_factory,
            uow_factory=uow_factory,
            broker=broker,
        )
        dead_letters = DeadLetterWriter(broker)
        self.consumers = [
            SubscriptionConsumer(
                subscription,
                uow_factory,
                dead_letters,
                **{
                    "fetch_max_wait_ms": settings.kafka_fetch_max_wait_ms,
                    "linger": settings.kafka_consumer_linger_ms / 1000,
                }
                | definition.consumer_options,
            )
            for subscription in definition.subscriptions
        ]
        for consumer in self.consumers:
            consumer.attach(broker)
        for declare in definition.subscribers:
            declare(context)
        routers = definition.routers(context) if definition.routers else []
        self.app = create_app(
            f"ifuno-{definition.name}",
            routers,
            self._readiness,
            settings.api_tokens,
            lifespan=self._lifespan,
        )
        self.app.state.context = context
        lifespan = self.app.router.lifespan_context(self.app)
        await lifespan.__aenter__()
        self._lifespan_context = lifespan
        if self._http:
            try:
                await self._start_http()
            except BaseException:
                # Cancelled (a stop during start-up) or failed: leave nothing running.
                await self.stop()
                raise

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        assert self.context is not None and self.relay is not None
        context = self.context
        try:
            for hook in self.definition.on_startup:
                await hook(context)
            await start_with_retry(
                context.broker, self.definition.name, bootstrap=context.settings.kafka_bootstrap
            )
        except BaseException:
            await self._release_unstarted(context)
            raise
        relay = self.relay
        self._supervise(relay.run, "relay")
        settings = context.settings
        housekeeping = partial(
            run_housekeeping,
            context.name,
            context.engine,
            settings.housekeeping_windows,
            settings.housekeeping_interval,
        )
        self._supervise(housekeeping, "housekeeping")
        for task in self.definition.background:
            self._supervise(partial(task, context), getattr(task, "__name__", "task"))
        try:
            yield
        finally:
            await context.broker.stop()
            await self.relay.stop()
            for running in self._tasks:
                running.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks.clear()
            await self.relay.drain(timeout=5.0)
            for hook in self.definition.on_shutdown:
                await hook(context)
            await context.engine.dispose()

    async def _release_unstarted(self, context: ServiceContext) -> None:
        """A start-up cut short (a stop while the broker or the database is awaited, or a
        failing startup hook) releases what it opened: nothing else ever would. The
        shutdown hooks are left out: they answer a service that started."""
        assert self.relay is not None
        with contextlib.suppress(Exception):
            await context.broker.stop()
        with contextlib.suppress(Exception):
            await self.relay.stop()
        await context.engine.dispose()

    async def _start_http(self) -> None:
        assert self.app is not None
        settings = self.definition.settings
        config = uvicorn.Config(
            self.app,
            host=settings.http_host,
            port=settings.http_port,
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        server_task = asyncio.create_task(self._server.serve(), name="http")
        self._http_task = server_task
        while not self._server.started:
            if server_task.done():
                server_task.result()
            await asyncio.sleep(0.02)

    async def _readiness(self) -> dict[str, bool]:
        assert self.context is not None
        checks = {"database": False, "broker": False}
        checks |= {f"task:{name}": healthy for name, healthy in self.task_health.items()}
        with contextlib.suppress(Exception):
            async with self.context.engine.connect() as connection:
                await asyncio.wait_for(connection.execute(text("SELECT 1")), 2)
            checks["database"] = True
        with contextlib.suppress(Exception):
            checks["broker"] = await self.context.broker.ping(timeout=2)
        return checks

    def _supervise(self, loop: Callable[[], Awaitable[None]], name: str) -> None:
        """Run a background loop for the life of the service: if it fails (the database
        or the broker away, say), log it, mark it down for `/ready`, and start it again
        after a backoff (0.5 s doubling up to 30 s, reset once it has run a while)."""

        async def supervised() -> None:
            backoff = 0.5
            while True:
                started = asyncio.get_running_loop().time()
                self.task_health[name] = True
                try:
                    await loop()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.task_health[name] = False
                    log.warning(
                        "%s of %s failed (%s), restarting in %.1f s\n%s",
                        name,
                        self.definition.name,
                        describe(exc),
                        backoff,
                        traceback_without_values(exc),
                    )
                if asyncio.get_running_loop().time() - started > 60:
                    backoff = 0.5
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

        self._tasks.append(asyncio.create_task(supervised(), name=name))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._http_task is not None:
                await asyncio.gather(self._http_task, return_exceptions=True)
        if self._lifespan_context is not None:
            context, self._lifespan_context = self._lifespan_context, None
            await context.__aexit__(None, None, None)

    async def wait_until_consuming(self) -> None:
        """Wait until every consumer has partitions assigned (tests bound it with a timeout)."""
        while not all(consumer.consuming for consumer in self.consumers):
            await asyncio.sleep(0.05)

    async def serve_forever(self) -> None:
        """Run until SIGINT or SIGTERM, then stop gracefully. A signal during start-up
        (the broker or the database awaited, retried without end) stops it too, as
        cleanly and with the same exit: an operator must never need SIGKILL."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        if not await self._start_unless(stop):
            log.info("%s stopped before it finished starting", self.definition.name)
            return
        log.info("%s running", self.definition.name)
        await stop.wait()
        await self.stop()

    async def _start_unless(self, stop: asyncio.Event) -> bool:
        """Start, unless `stop` is set first: then cancel the start-up (which releases
        what it opened) and return False. A start-up failure is raised as before."""
        starting = asyncio.create_task(self.start(), name=f"start-{self.definition.name}")
        stopping = asyncio.create_task(stop.wait(), name=f"stop-{self.definition.name}")
        try:
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not starting.done():
                # Cancelled, the start-up releases what it opened (see `start`).
                starting.cancel()
                await asyncio.wait({starting})
        if starting.cancelled():
            return False
        starting.result()
        return True

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
