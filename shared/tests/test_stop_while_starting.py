"""A service stops on SIGTERM or SIGINT whenever it gets one: while it still waits for
its broker (start-up retries without end) as after it started, promptly and with exit 0.

The real console script runs as its own process: the signal handlers, the event loop
(uvloop) and the exit code are the ones an operator or an orchestrator meets."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SCRIPT = str(Path(sys.executable).with_name("ifuno-selection"))
STOPPED_WITHIN = 15.0
"""Seconds: a bound on liveness (the stop takes well under one), not a benchmark."""


def closed_port() -> int:
    """A local port nothing listens on: a connection to it is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def environment(database_url: str, bootstrap: str) -> dict[str, str]:
    return {
        **os.environ,
        "IFUNO_KAFKA_BOOTSTRAP": bootstrap,
        "IFUNO_SELECTION_DATABASE_URL": database_url,
        "IFUNO_SELECTION_HTTP_PORT": "0",
        "IFUNO_LOG_LEVEL": "INFO",
    }


def wait_for_line(log: Path, process: subprocess.Popen[bytes], line: str) -> None:
    deadline = time.monotonic() + 60
    while line not in log.read_text(errors="replace"):
        assert process.poll() is None, f"exited early:\n{log.read_text(errors='replace')}"
        assert time.monotonic() < deadline, f"no {line!r} in:\n{log.read_text(errors='replace')}"
        time.sleep(0.05)


def stop_and_wait(process: subprocess.Popen[bytes], signum: signal.Signals, log: Path) -> int:
    process.send_signal(signum)
    try:
        return process.wait(timeout=STOPPED_WITHIN)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(
            f"still running {STOPPED_WITHIN:.0f} s after {signum.name}:\n"
            + log.read_text(errors="replace")[-3000:]
        )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_service_waiting_for_its_broker_stops_on_a_signal_with_exit_0(
    tmp_path: Path, signum: signal.Signals
) -> None:
    port = closed_port()
    # The database is unreachable too: the broker is awaited first, nothing reads it.
    database_url = f"postgresql+asyncpg://nobody:nothing@127.0.0.1:{port}/absent"
    log = tmp_path / "service.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [SCRIPT, "run"],
            env=environment(database_url, f"127.0.0.1:{port}"),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_line(log, process, "broker not reachable yet")
        code = stop_and_wait(process, signum, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text(errors="replace")
    assert code == 0, text
    assert "selection stopped before it finished starting" in text
    assert "Traceback" not in text


def test_a_started_service_stops_on_sigterm_with_exit_0(
    tmp_path: Path, database_url: str, kafka
) -> None:
    """The path after start-up, unchanged (SIGINT has the same handler; its start takes
    10 s, the production consumer session, so it runs once)."""
    signum = signal.SIGTERM
    env = environment(database_url, kafka.bootstrap)
    subprocess.run([SCRIPT, "migrate"], env=env, check=True, capture_output=True, timeout=120)
    log = tmp_path / "service.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [SCRIPT, "run"], env=env, stdout=output, stderr=subprocess.STDOUT
        )
    try:
        wait_for_line(log, process, "selection running")
        code = stop_and_wait(process, signum, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text(errors="replace")
    assert code == 0, text
    assert "Traceback" not in text
