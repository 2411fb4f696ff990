"""Free local ports, and waiting for a server to accept connections."""

from __future__ import annotations

import asyncio
import socket
import time


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing accepts connections on 127.0.0.1:{port}") from None
            time.sleep(0.01)


async def wait_for_port_async(port: int, timeout: float = 10.0) -> None:
    await asyncio.to_thread(wait_for_port, port, timeout)
