"""Serving until Ctrl-C or SIGTERM, in a plain (non-async) program."""

from __future__ import annotations

import signal
import threading


def wait_for_stop_signal() -> None:
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    stopped.wait()
