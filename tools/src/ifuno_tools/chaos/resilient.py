"""The season's conductor made patient: while the adversary has a server down, the
people it plays (staff, candidates, the portal) try again instead of giving up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import httpx
from aiokafka import AIOKafkaProducer
from ifuno_shared.events import CloudEvent

from ifuno_tools.demo.observe import Quiescence
from ifuno_tools.demo.portal import Portal

log = logging.getLogger(__name__)

PATIENCE = 240.0
"""Seconds a call keeps being tried; longer than any fault plus its recovery."""


class RetryingTransport(httpx.AsyncBaseTransport):
    """Retries a request that found no server, lost its connection or got a 5xx (a
    service restarting, its database away). A staff action repeated after a lost
    answer is harmless: the services answer a repeated review or interview result
    with a conflict or the same outcome."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        deadline = time.monotonic() + PATIENCE
        delay = 0.2
        while True:
            try:
                response = await self._inner.handle_async_request(request)
                if response.status_code < 500 or time.monotonic() > deadline:
                    return response
                await response.aclose()
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)

    async def aclose(self) -> None:
        await self._inner.aclose()


def patient_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=30.0, transport=RetryingTransport())


class PatientPortal(Portal):
    """Sends a batch again (with a fresh producer) until the broker takes it all;
    the events keep their ids, so a consumer that saw the first copy skips the second."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(bootstrap)
        self._bootstrap = bootstrap

    async def send(self, events: list[CloudEvent]) -> None:
        deadline = time.monotonic() + PATIENCE
        while True:
            try:
                async with asyncio.timeout(20):
                    await self._send(events)
                return
            except Exception as error:
                if time.monotonic() > deadline:
                    raise
                log.info("portal send failed (%s); trying again", type(error).__name__)
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(5):
                        await self._producer.stop()
                await asyncio.sleep(1.0)
                self._producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap, linger_ms=5, request_timeout_ms=10_000
                )
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(10):
                        await self._producer.start()


class PatientQuiescence(Quiescence):
    """Waits for every group to catch up however long an outage lasts (bounded)."""

    async def settle(self, timeout: float = PATIENCE) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                await super().settle(timeout=max(deadline - time.monotonic(), 1.0))
                return
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    async def lag_or_none(self) -> dict[str, int] | None:
        """The lag per group, or None while the broker cannot say."""
        try:
            async with asyncio.timeout(5):
                return await self.lag()
        except Exception:
            return None
