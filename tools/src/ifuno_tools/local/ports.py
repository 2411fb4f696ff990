"""Free local ports, and waiting for a server to accept connections."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Callable


def free_port() -> int:
    """A port free right now on 127.0.0.1 (the OS picks it; a race is possible but rare)."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` ports free right now, all different: each probe stays bound until all are
    chosen, where `free_port()` called in turn may give the same port twice."""
    with contextlib.ExitStack() as probes:
        chosen = []
        for _ in range(count):
            probe = probes.enter_context(socket.socket())
            probe.bind(("127.0.0.1", 0))
            chosen.append(int(probe.getsockname()[1]))
        return chosen


def port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for_port(
    port: int, timeout: float = 10.0, *, alive: Callable[[], bool] | None = None
) -> None:
    """Return once 127.0.0.1:port accepts connections.

    `alive` (e.g. "the server process still runs") turns a server that died at
    start into an immediate error instead of a wait for the whole timeout.
    """
    deadline = time.monotonic() + timeout
    while not port_accepts(port):
        if alive is not None and not alive():
            raise RuntimeError(f"the server meant for 127.0.0.1:{port} exited at start")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing accepts connections on 127.0.0.1:{port}")
        time.sleep(0.01)


async def wait_for_port_async(port: int, timeout: float = 10.0) -> None:
    await asyncio.to_thread(wait_for_port, port, timeout)
