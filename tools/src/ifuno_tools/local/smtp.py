"""An SMTP server (aiosmtpd) that keeps every message it accepts, for tests and the demo.

It runs on its own thread and event loop, so it answers even while the test's
loop is busy. `stop()` then `start()` plays an outage on the same port;
`reject(pattern)` plays an address that does not exist (a permanent 550). Like
Postfix, it offers command pipelining (RFC 2920) unless told not to; other
options (TLS, authentication) go to aiosmtpd's server as they are.
"""

from __future__ import annotations

import asyncio
import fnmatch
import threading
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from functools import cached_property
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from ifuno_tools.local.lifetime import forget, on_exit
from ifuno_tools.local.ports import free_port


@dataclass(frozen=True)
class CapturedMail:
    mail_from: str
    recipients: tuple[str, ...]
    content: bytes
    received_at: float  # time.perf_counter() when accepted (the benchmark's clock)
    peer: tuple[str, int] | None = None
    """The client's address and port: one per connection."""

    @cached_property
    def message(self) -> EmailMessage:
        """Parsed when first read: a sink that parsed every message would cost the
        benchmark more CPU than a real mail server does."""
        parsed = message_from_bytes(self.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class _Handler:
    def __init__(self, server: CapturingSmtpServer) -> None:
        self._server = server

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """aiosmtpd reads pipelined commands one after the other: it only has to say so."""
        session.host_name = hostname
        if self._server.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._server.refuses(address):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        peer = tuple(session.peer) if isinstance(session.peer, tuple | list) else None
        mail = CapturedMail(
            str(envelope.mail_from),
            tuple(envelope.rcpt_tos),
            content,
            time.perf_counter(),
            (str(peer[0]), int(peer[1])) if peer else None,
        )
        self._server._accept(mail, content)
        return "250 OK"


class CapturingSmtpServer:
    """SMTP on 127.0.0.1 (a free port by default) keeping mail in `messages`,
    and as `.eml` files in `folder` if given."""

    def __init__(
        self,
        port: int | None = None,
        *,
        folder: Path | None = None,
        pipelining: bool = True,
        **server_options: Any,
    ) -> None:
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.folder = folder
        self.pipelining = pipelining
        self._server_options = server_options
        self.messages: list[CapturedMail] = []
        self.rejected_patterns: list[str] = []
        self._lock = threading.Lock()
        self._files = 0
        self._controller: Controller | None = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    def reject(self, pattern: str) -> None:
        """Refuse recipients matching a glob pattern (`nobody@*`) with a permanent 550."""
        self.rejected_patterns.append(pattern.lower())

    def accept_all(self) -> None:
        self.rejected_patterns.clear()

    def refuses(self, address: str) -> bool:
        return any(fnmatch.fnmatch(address.lower(), p) for p in self.rejected_patterns)

    def start(self) -> None:
        """Start (or start again, on the same port)."""
        if self._controller is None:
            # A fixed server name: the default asks DNS for this host's FQDN, which
            # can stall for seconds on a machine without a resolver.
            controller = Controller(
                _Handler(self),
                hostname=self.host,
                port=self.port,
                server_hostname="localhost",
                **self._server_options,
            )
            controller.start()
            self._controller = controller
            on_exit(self)

    def stop(self) -> None:
        """Stop listening: clients get "connection refused" until `start()`."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()
        forget(self)

    def _accept(self, mail: CapturedMail, content: bytes) -> None:
        with self._lock:
            self.messages.append(mail)
            self._files += 1
            number = self._files
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / f"{number:05d}.eml").write_bytes(content)

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()

    def to(self, address: str) -> list[EmailMessage]:
        """The messages delivered to this recipient (envelope), in arrival order."""
        wanted = address.lower()
        return [m.message for m in list(self.messages) if wanted in map(str.lower, m.recipients)]

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[CapturedMail]:
        """Wait until at least `count` messages have arrived; return them all."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.messages)} messages received, {count} expected")
            await asyncio.sleep(0.02)
        return list(self.messages)

    def __enter__(self) -> CapturingSmtpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
