"""Serving until Ctrl-C or SIGTERM, in a plain (non-async) program."""

from __future__ import annotations

import signal
import threading


class StopSignals:
    """Ctrl-C and SIGTERM caught from the moment this is made. A program makes it before
    it prints that it is ready: a SIGTERM sent on reading that line then stops it
    cleanly, where the default action would kill it and skip every `finally` (the
    servers it started left running)."""

    def __init__(self) -> None:
        self._stopped = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self._stopped.set())

    def wait(self) -> None:
        self._stopped.wait()
