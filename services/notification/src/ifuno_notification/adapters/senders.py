"""The two channels: email over SMTP, SMS through an HTTP gateway.

Both raise `PermanentFailure` (retrying cannot help: a refused address, a refused
message), `TransientFailure` (retry this message later) or `ServerUnavailable`, a
transient failure of the server itself (down, busy, refusing our credentials):
no other message on that channel can get through either for now.
"""

from __future__ import annotations

import abc
import base64
import contextlib
import functools
import logging
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path

import httpx

from ifuno_notification.adapters.smtp import (
    SmtpConnectionError,
    SmtpReplyError,
    SmtpSession,
    Tls,
    envelope_address,
    to_wire,
)
from ifuno_notification.domain.sms import split_sms

log = logging.getLogger(__name__)


class DeliveryFailure(Exception):
    pass


class PermanentFailure(DeliveryFailure):
    pass


class TransientFailure(DeliveryFailure):
    pass


class ServerUnavailable(TransientFailure):
    pass


@dataclass(frozen=True)
class Email:
    message_id: str
    to: str
    reply_to: str
    subject: str
    text: str
    html: str | None


class Begun:
    """An email sent all but the instant the server takes it (its final dot)."""

    def __init__(self, end: Callable[[], Awaitable[None]]) -> None:
        self.end = end
        """Have the server take it (raises as `send` does)."""

    def abandon(self) -> None:
        """Drop it: the server never takes it."""


class AbstractEmailSender(abc.ABC):
    @abc.abstractmethod
    async def send(self, email: Email) -> None: ...

    async def begin(self, email: Email) -> Begun:
        """Send `email` up to the instant the server takes it; `end()` does that. The
        dispatcher records the previous acceptance meanwhile. A sender that cannot
        split a send does all of it in `end()`."""
        return Begun(functools.partial(self.send, email))

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[AbstractEmailSender]:
        """A sender for a run of sends, one after the other: a sender that holds a
        connection keeps one for the run. Several runs may go on at once."""
        yield self

    async def close_idle(self) -> None:  # noqa: B027 (a sender holding nothing has nothing to close)
        """Close the connections kept between runs (the service stopping)."""


class AbstractSmsSender(abc.ABC):
    @abc.abstractmethod
    async def send(self, message_id: str, to: str, text: str) -> None: ...


class SmtpEmailSender(AbstractEmailSender):
    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        tls: Tls = "none",
        username: str | None = None,
        password: str | None = None,
        copy_dir: Path | None = None,
        timeout: float = 10.0,
        keep_idle: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        """`keep_idle`: seconds a connection is kept open between two runs of sends (a
        server closes an idle session only after minutes: Postfix after 300 s).
        `ssl_context`: the certificates trusted for TLS (default: the system's)."""
        self._host, self._port, self._sender = host, port, sender
        self._tls, self._username, self._password = tls, username, password
        self._copy_dir = copy_dir
        self._ssl_context = ssl_context
        self._timeout = timeout
        self._keep_idle = keep_idle
        self._idle: list[tuple[float, _SmtpConnection]] = []
        name, self._envelope_sender = parseaddr(sender)
        if "@" not in self._envelope_sender:
            raise ValueError("IFUNO_SMTP_FROM: no address an SMTP envelope takes")
        envelope_address(self._envelope_sender)  # the same mistake, other ways: at start
        self._from_header = formataddr((name, self._envelope_sender), charset="utf-8")

    def build(self, email: Email) -> bytes:
        """The MIME message (text, and HTML as an alternative), UTF-8 bodies in base64.

        Written out directly: the `email` package's classes took 0.4 ms an email, the
        largest part of the dispatcher's CPU under load. The message is what they wrote
        (headers RFC 2047-encoded where not ASCII, base64 lines of 76 characters, `\n`
        line ends, which the SMTP client sends as CRLF). The boundary starts with `=_`,
        which base64 never contains."""
        for address in (email.to, email.reply_to):
            if "\n" in address or "\r" in address:
                raise PermanentFailure("an address holds a line break")
        headers = [
            f"From: {self._from_header}",
            f"To: {email.to}",
            f"Reply-To: {email.reply_to}",
            f"Subject: {_encoded_subject(email.subject)}",
            f"Date: {formatdate(localtime=False)}",
            # A stable Message-ID: a resend after a crash is recognisable as the same message.
            f"Message-ID: <{email.message_id}@ifuno.univ-lemans.fr>",
            "MIME-Version: 1.0",
        ]
        if email.html is None:
            lines = [*headers, *_part_headers("plain"), "", _base64(email.text)]
        else:
            boundary = f"=_{email.message_id}"
            lines = [
                *headers,
                f'Content-Type: multipart/alternative; boundary="{boundary}"',
                "",
                f"--{boundary}",
                *_part_headers("plain"),
                "",
                _base64(email.text),
                f"--{boundary}",
                *_part_headers("html"),
                "",
                _base64(email.html),
                f"--{boundary}--",
                "",
            ]
        return "\n".join(lines).encode()

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[AbstractEmailSender]:
        """Sends over one SMTP connection (opened on the first message), kept for the
        next run if this one ends well: at a steady load the dispatcher's runs are a
        few messages each, and a new session (TCP, greeting, EHLO, QUIT) for each cost
        more than the messages."""
        run = await self._take_idle() or _SmtpConnection(self)
        try:
            yield run
        except BaseException:
            await run.close()
            raise
        self._idle.append((time.monotonic(), run))

    async def _take_idle(self) -> _SmtpConnection | None:
        """The most recently used connection kept; those kept too long are closed."""
        oldest = time.monotonic() - self._keep_idle
        while self._idle:
            since, run = self._idle.pop()
            if since >= oldest:
                return run
            await run.close()
        return None

    async def close_idle(self) -> None:
        idle, self._idle = self._idle, []
        for _, run in idle:
            await run.close()

    async def send(self, email: Email) -> None:
        async with self.connection() as run:
            await run.send(email)

    async def open_session(self) -> SmtpSession:
        return await SmtpSession.open(
            self._host,
            self._port,
            tls=self._tls,
            username=self._username,
            password=self._password,
            timeout=self._timeout,
            ssl_context=self._ssl_context,
        )

    @property
    def envelope_sender(self) -> str:
        return self._envelope_sender

    @property
    def copy_dir(self) -> Path | None:
        return self._copy_dir


class _SmtpConnection(AbstractEmailSender):
    def __init__(self, sender: SmtpEmailSender) -> None:
        self._sender = sender
        self._open: SmtpSession | None = None

    async def close(self) -> None:
        session, self._open = self._open, None
        if session is not None:
            await session.quit()

    async def send(self, email: Email) -> None:
        await (await self.begin(email)).end()

    async def begin(self, email: Email) -> Begun:
        message = self._sender.build(email)
        await self._failing_over(self._begin(email.to, message))
        return _BegunEmail(self, email.message_id, message)

    async def _begin(self, recipient: str, message: bytes) -> None:
        if self._open is None or self._open.closed:
            self._open = await self._sender.open_session()
        await self._open.begin(self._sender.envelope_sender, recipient, to_wire(message))

    async def end(self, message_id: str, message: bytes) -> None:
        session = self._open
        if session is None:
            raise ServerUnavailable("SMTP connection lost before the message was sent")
        await self._failing_over(session.end())
        if self._sender.copy_dir is not None:
            _keep_copy(self._sender.copy_dir, message_id, message)

    def abandon(self) -> None:
        session, self._open = self._open, None
        if session is not None:
            session.abort()

    async def _failing_over(self, step: Awaitable[None]) -> None:
        """What the server's answer means for this message (see the module)."""
        try:
            await step
        except SmtpReplyError as exc:
            if exc.code != 421 and (exc.step in ("rcpt", "data", "message") or exc.code == 552):
                # This message: its recipient, its content, or (552 at MAIL) its size.
                failure = PermanentFailure if exc.code >= 500 else TransientFailure
                what = "recipient" if exc.step == "rcpt" else "message"
                raise failure(f"{what} refused ({exc.code})") from exc
            # 421 (the server closing), greeting, EHLO, TLS, authentication, sender: the
            # server or our settings, not this message. Retried; the dispatcher gives up
            # after its retry period.
            self.abandon()
            raise ServerUnavailable(f"SMTP {exc.code} ({exc.step})") from exc
        except SmtpConnectionError as exc:
            self.abandon()
            raise ServerUnavailable(f"SMTP unreachable: {exc}") from exc
        except ValueError as exc:
            raise PermanentFailure(str(exc)) from exc
        except BaseException:
            # Anything else (cancelled, or a fault of ours) may leave the session half
            # way through a message: the next one starts on a new connection.
            self.abandon()
            raise


class _BegunEmail(Begun):
    def __init__(self, connection: _SmtpConnection, message_id: str, message: bytes) -> None:
        super().__init__(functools.partial(connection.end, message_id, message))
        self._connection = connection

    def abandon(self) -> None:
        self._connection.abandon()


def _part_headers(subtype: str) -> tuple[str, str]:
    return (f'Content-Type: text/{subtype}; charset="utf-8"', "Content-Transfer-Encoding: base64")


def _base64(text: str) -> str:
    """Lines of 76 characters, each ending in a line break (RFC 2045)."""
    return base64.encodebytes(text.encode()).decode().rstrip("\n")


@functools.lru_cache(maxsize=1024)
def _encoded_subject(subject: str) -> str:
    """RFC 2047 encoding is slow and a template's subject is the same for most
    candidates."""
    return Header(subject, "utf-8", header_name="Subject").encode()


def _keep_copy(folder: Path, message_id: str, message: bytes) -> None:
    """The copy is a convenience: failing to write it must not resend the email."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{message_id}.eml").write_bytes(message)
    except OSError as exc:
        log.warning("could not keep a copy of email %s: %s", message_id, type(exc).__name__)


class GatewaySmsSender(AbstractSmsSender):
    """`POST {url}/messages {"to", "text", "idempotency_key"}`, with a bearer token when
    one is configured (none: no `Authorization` header at all); one request per part,
    each keyed so that a retry never sends a part twice.

    Only the gateway being down or busy (5xx, 408, 429, unreachable) is worth retrying.
    Any other 4xx, or a request the HTTP client refuses to send, is our configuration
    or our request at fault: the message fails at once, reported once (the dispatcher
    logs it and publishes `notification.failed`), not retried for hours."""

    def __init__(self, url: str, token: str | None, *, timeout: float = 10.0) -> None:
        self._url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._timeout = timeout

    async def send(self, message_id: str, to: str, text: str) -> None:
        parts = split_sms(text)
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            for index, part in enumerate(parts, start=1):
                key = message_id if len(parts) == 1 else f"{message_id}:{index}/{len(parts)}"
                try:
                    response = await client.post(
                        f"{self._url}/messages",
                        json={"to": to, "text": part, "idempotency_key": key},
                        headers=self._headers,
                    )
                except (httpx.LocalProtocolError, httpx.UnsupportedProtocol) as exc:
                    raise PermanentFailure(
                        f"SMS gateway request not sendable ({type(exc).__name__}): "
                        "check IFUNO_SMS_GATEWAY_URL and IFUNO_SMS_GATEWAY_TOKEN"
                    ) from exc
                except httpx.HTTPError as exc:
                    raise ServerUnavailable(
                        f"SMS gateway unreachable: {type(exc).__name__}"
                    ) from exc
                status = response.status_code
                if status >= 500 or status in RETRIED_STATUSES:
                    # Down or busy: no SMS gets through for now.
                    raise ServerUnavailable(f"SMS gateway {status}")
                if status >= 400:
                    raise PermanentFailure(
                        f"SMS gateway refused the request ({status}): a configuration or "
                        "request error, not retried"
                    )


RETRIED_STATUSES = frozenset({408, 429})
"""The 4xx answers that mean "later" (timeout, too many requests)."""


class NoSmsGateway(AbstractSmsSender):
    async def send(self, message_id: str, to: str, text: str) -> None:
        raise PermanentFailure("no SMS gateway configured (IFUNO_SMS_GATEWAY_URL)")
