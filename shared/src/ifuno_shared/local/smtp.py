"""An SMTP server (aiosmtpd) that keeps every message it accepts."""

from __future__ import annotations

import asyncio
import fnmatch
import time
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from ifuno_shared.local.ports import free_port


@dataclass(frozen=True)
class CapturedMail:
    mail_from: str
    recipients: tuple[str, ...]
    message: EmailMessage
    received_at: float  # time.perf_counter() when accepted (the benchmark's clock)


class _Handler:
    def __init__(self, server: CapturingSmtpServer) -> None:
        self._server = server

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if any(fnmatch.fnmatch(address.lower(), p) for p in self._server.rejected_patterns):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        message = message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        mail = CapturedMail(
            str(envelope.mail_from), tuple(envelope.rcpt_tos), message, time.perf_counter()
        )
        self._server._accept(mail, content)
        return "250 OK"


class CapturingSmtpServer:
    """Stop and start it again on the same port to play an SMTP outage."""

    def __init__(self, port: int | None = None, *, folder: Path | None = None) -> None:
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.folder = folder
        self.messages: list[CapturedMail] = []
        self.rejected_patterns: list[str] = []
        self._controller: Controller | None = None

    def reject(self, pattern: str) -> None:
        """Refuse recipients matching a glob pattern with a permanent 550."""
        self.rejected_patterns.append(pattern.lower())

    def start(self) -> None:
        if self._controller is None:
            self._controller = Controller(_Handler(self), hostname=self.host, port=self.port)
            self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def _accept(self, mail: CapturedMail, content: bytes) -> None:
        self.messages.append(mail)
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / f"{len(self.messages):05d}.eml").write_bytes(content)

    def to(self, address: str) -> list[EmailMessage]:
        return [m.message for m in self.messages if address.lower() in map(str.lower, m.recipients)]

    async def wait_for(self, count: int, timeout: float = 30.0) -> list[CapturedMail]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.messages)} messages received, {count} expected")
            await asyncio.sleep(0.05)
        return list(self.messages)

    def __enter__(self) -> CapturingSmtpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
