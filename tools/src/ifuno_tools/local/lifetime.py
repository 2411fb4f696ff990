"""Local servers never outlive the program that started them.

Three layers, because each covers what the others cannot:
- `on_exit` stops every server still running when the interpreter exits
  normally (tests failing, Ctrl-C, an exception in the demo);
- `spawn` starts subprocesses (the broker) so that the kernel kills them when
  this process dies, even by SIGKILL (Linux `PR_SET_PDEATHSIG`). The signal
  follows the *thread* that forked, so every spawn happens on one daemon
  thread that lives as long as the process;
- PostgreSQL daemonizes (pg_ctl), so no signal reaches it: each server is
  recorded with its owner's pid, and the next start stops servers whose owner
  is gone (`reap_orphaned_postgres`).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any, Protocol

import psutil


class _Stoppable(Protocol):
    def stop(self) -> None: ...


_running: weakref.WeakSet[Any] = weakref.WeakSet()


def on_exit(server: _Stoppable) -> None:
    """Stop `server` at interpreter exit if it still runs then."""
    _running.add(server)


def forget(server: _Stoppable) -> None:
    _running.discard(server)


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        with contextlib.suppress(Exception):
            server.stop()


# --- subprocesses bound to this process -------------------------------------------

_PR_SET_PDEATHSIG = 1
_libc: Any = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError):
        _libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent(parent: int) -> Callable[[], None]:
    prctl = _libc.prctl if _libc is not None else None

    def preexec() -> None:  # runs in the child between fork and exec: keep it minimal
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


_spawn_requests: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
_spawner_lock = threading.Lock()
_spawner: threading.Thread | None = None


def _spawner_loop() -> None:
    while True:
        action, future = _spawn_requests.get()
        try:
            future.set_result(action())
        except BaseException as error:
            future.set_exception(error)


def spawn(
    command: Sequence[str], *, env: dict[str, str] | None = None, output: IO[bytes] | int | None
) -> subprocess.Popen[bytes]:
    """Start `command` in its own session (Ctrl-C in a terminal does not reach it: its
    owner stops it, in order) and bound to this process's life."""
    global _spawner
    with _spawner_lock:
        if _spawner is None or not _spawner.is_alive():
            _spawner = threading.Thread(target=_spawner_loop, name="ifuno-spawner", daemon=True)
            _spawner.start()
    preexec = _die_with_parent(os.getpid())
    future: Future[subprocess.Popen[bytes]] = Future()
    _spawn_requests.put(
        (
            lambda: subprocess.Popen(
                list(command),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=preexec,
            ),
            future,
        )
    )
    return future.result()


def terminate(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`; always reaped."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- PostgreSQL servers whose owner is gone ----------------------------------------

_OWNERS = Path(tempfile.gettempdir()) / "ifuno-local" / "postgres-owners"


def _me() -> dict[str, Any]:
    return {"pid": os.getpid(), "started": psutil.Process().create_time()}


def _owner_alive(owner: dict[str, Any]) -> bool:
    try:
        return abs(psutil.Process(int(owner["pid"])).create_time() - owner["started"]) < 1
    except (psutil.Error, KeyError, TypeError, ValueError):
        return False


def record_postgres(pgdata: Path, *, delete: bool) -> Path:
    """Note that this process owns the server of `pgdata`; returns the record to drop."""
    _OWNERS.mkdir(parents=True, exist_ok=True)
    entry = _OWNERS / f"{uuid.uuid4().hex}.json"
    entry.write_text(json.dumps({"owner": _me(), "pgdata": str(pgdata), "delete": delete}))
    return entry


def reap_orphaned_postgres() -> int:
    """Stop (and delete, if asked at start) servers whose owning process has died."""
    reaped = 0
    for entry in sorted(_OWNERS.glob("*.json")) if _OWNERS.is_dir() else []:
        try:
            record = json.loads(entry.read_text())
        except (OSError, ValueError):
            continue
        if _owner_alive(record.get("owner", {})):
            continue
        pgdata = Path(record["pgdata"])
        _stop_postmaster(pgdata)
        if record.get("delete"):
            shutil.rmtree(pgdata, ignore_errors=True)
        entry.unlink(missing_ok=True)
        reaped += 1
    return reaped


def _stop_postmaster(pgdata: Path) -> None:
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        postmaster = psutil.Process(pid)
        if postmaster.name() != "postgres" or str(pgdata) not in " ".join(postmaster.cmdline()):
            return  # the pid was reused by something else
        postmaster.send_signal(signal.SIGQUIT)  # immediate shutdown: the data is throwaway
        deadline = time.monotonic() + 5
        while _alive(postmaster) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(postmaster):
            postmaster.kill()
    except (OSError, ValueError, IndexError, psutil.Error):
        return


def _alive(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
