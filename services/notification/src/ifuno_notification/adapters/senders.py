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
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path
from typing import Literal

import aiosmtplib
import httpx

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


class AbstractEmailSender(abc.ABC):
    @abc.abstractmethod
    async def send(self, email: Email) -> None: ...

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
        tls: Literal["none", "starttls", "tls"] = "none",
        username: str | None = None,
        password: str | None = None,
        copy_dir: Path | None = None,
        timeout: float = 10.0,
        keep_idle: float = 10.0,
    ) -> None:
        """`keep_idle`: seconds a connection is kept open between two runs of sends (a
        server closes an idle session only after minutes: Postfix after 300 s)."""
        self._host, self._port, self._sender = host, port, sender
        self._tls, self._username, self._password = tls, username, password
        self._copy_dir = copy_dir
        self._timeout = timeout
        self._keep_idle = keep_idle
        self._idle: list[tuple[float, _SmtpConnection]] = []
        name, self._envelope_sender = parseaddr(sender)
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

    def client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            use_tls=self._tls == "tls",
            start_tls=self._tls == "starttls",
            timeout=self._timeout,
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
        self._open: aiosmtplib.SMTP | None = None

    async def _client(self) -> aiosmtplib.SMTP:
        if self._open is None:
            client = self._sender.client()
            await client.connect()
            self._open = client
        return self._open

    async def close(self) -> None:
        client, self._open = self._open, None
        if client is not None and client.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()

    async def send(self, email: Email) -> None:
        message = self._sender.build(email)
        try:
            client = await self._client()
            await client.sendmail(self._sender.envelope_sender, [email.to], message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            await self.close()
            codes = [error.code for error in exc.recipients]
            failure = PermanentFailure if all(c >= 500 for c in codes) else TransientFailure
            raise failure(f"recipient refused ({', '.join(map(str, codes))})") from exc
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as exc:
            await self.close()
            failure = PermanentFailure if exc.code >= 500 else TransientFailure
            what = "recipient" if isinstance(exc, aiosmtplib.SMTPRecipientRefused) else "message"
            raise failure(f"{what} refused ({exc.code})") from exc
        except aiosmtplib.SMTPResponseException as exc:
            # Greeting, HELO, authentication, sender: the server or our settings, not
            # this message. Retried; the dispatcher gives up after its retry period.
            await self.close()
            raise ServerUnavailable(f"SMTP {exc.code} ({type(exc).__name__})") from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            await self.close()
            raise ServerUnavailable(f"SMTP unreachable: {type(exc).__name__}") from exc
        except BaseException:
            # Anything else (cancelled, or a fault of ours) may leave the session half
            # way through a message: the next one starts on a new connection.
            await self.close()
            raise
        if self._sender.copy_dir is not None:
            _keep_copy(self._sender.copy_dir, email.message_id, message)


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
