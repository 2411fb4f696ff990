"""Our SMTP client against real servers: aiosmtpd (with and without pipelining, TLS,
authentication) and a scripted server that answers only pipelined clients."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from ifuno_notification.adapters.senders import (
    Email,
    PermanentFailure,
    ServerUnavailable,
    SmtpEmailSender,
    TransientFailure,
)
from ifuno_notification.adapters.smtp import (
    SmtpConnectionError,
    SmtpReplyError,
    SmtpSession,
    to_wire,
)
from ifuno_tools.local import CapturingSmtpServer

pytestmark = pytest.mark.integration

MESSAGE = b"Subject: essai\n\nBonjour,\n.une ligne qui commence par un point\n"


def test_content_goes_out_with_crlf_line_ends_and_leading_dots_doubled() -> None:
    assert to_wire(b"a\n.b\r\n..c\rd") == b"a\r\n..b\r\n...c\r\nd\r\n"


@pytest.fixture
def server() -> AsyncIterator[CapturingSmtpServer]:
    with CapturingSmtpServer() as smtp:
        yield smtp


async def send(session: SmtpSession, to: str = "anne@example.org") -> None:
    await session.begin("ifuno@example.org", to, to_wire(MESSAGE))
    await session.end()


@pytest.mark.parametrize("pipelining", [True, False])
async def test_a_message_arrives_whether_the_server_pipelines_or_not(pipelining: bool) -> None:
    with CapturingSmtpServer(pipelining=pipelining) as smtp:
        session = await SmtpSession.open(smtp.host, smtp.port)
        assert session.pipelining is pipelining
        await send(session)
        await send(session, "paul@example.org")
        await session.quit()
    first, second = smtp.messages
    assert (first.mail_from, first.recipients) == ("ifuno@example.org", ("anne@example.org",))
    assert second.recipients == ("paul@example.org",)
    content = first.message.get_content().replace("\r\n", "\n")
    assert content == "Bonjour,\n.une ligne qui commence par un point\n"


async def test_envelope_commands_go_together_to_a_pipelining_server() -> None:
    """This server reads MAIL, RCPT and DATA before it answers any of them: a client
    waiting for each reply in turn would wait forever."""
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 scripted\r\n")
        await reader.readline()
        writer.write(b"250-scripted\r\n250 PIPELINING\r\n")
        envelope = [await reader.readline() for _ in range(3)]
        received.extend(envelope)
        writer.write(b"250 sender ok\r\n250 recipient ok\r\n354 go on\r\n")
        content = await reader.readuntil(b"\r\n.\r\n")
        received.append(content)
        writer.write(b"250 queued\r\n")
        await writer.drain()
        await reader.readline()
        writer.close()

    listening = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    async with listening:
        session = await SmtpSession.open("127.0.0.1", port, timeout=2.0)
        await send(session)
        await session.quit()
    assert received[:3] == [
        b"MAIL FROM:<ifuno@example.org>\r\n",
        b"RCPT TO:<anne@example.org>\r\n",
        b"DATA\r\n",
    ]
    assert received[3].endswith(b"\r\n..une ligne qui commence par un point\r\n.\r\n")


async def test_a_begun_message_is_taken_at_its_final_dot_and_dropped_if_abandoned(
    server: CapturingSmtpServer,
) -> None:
    session = await SmtpSession.open(server.host, server.port)
    await session.begin("ifuno@example.org", "anne@example.org", to_wire(MESSAGE))
    await asyncio.sleep(0.1)
    assert server.messages == []
    await session.end()
    assert [m.recipients for m in server.messages] == [("anne@example.org",)]
    await session.begin("ifuno@example.org", "paul@example.org", to_wire(MESSAGE))
    session.abort()
    again = await SmtpSession.open(server.host, server.port)
    await send(again, "zoe@example.org")
    await again.quit()
    assert [m.recipients for m in server.messages] == [
        ("anne@example.org",),
        ("zoe@example.org",),
    ]


async def test_a_pipelined_message_takes_two_writes_the_envelope_then_content_and_dot(
    server: CapturingSmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = await SmtpSession.open(server.host, server.port)
    assert session.pipelining
    writes: list[bytes] = []
    write = session._writer.write

    def counted(data: bytes) -> None:
        writes.append(bytes(data))
        write(data)

    monkeypatch.setattr(session._writer, "write", counted)
    await session.begin("ifuno@example.org", "anne@example.org", to_wire(MESSAGE))
    await session.end()
    await session.quit()
    assert len(writes) == 3
    assert writes[0].startswith(b"MAIL FROM:") and writes[0].endswith(b"DATA\r\n")
    assert writes[1] == to_wire(MESSAGE) + b".\r\n"
    assert writes[2] == b"QUIT\r\n"
    assert [m.recipients for m in server.messages] == [("anne@example.org",)]


async def test_a_refused_recipient_leaves_the_session_ready_for_the_next_message(
    server: CapturingSmtpServer,
) -> None:
    server.reject("nobody@*")
    session = await SmtpSession.open(server.host, server.port)
    with pytest.raises(SmtpReplyError) as refused:
        await session.begin("ifuno@example.org", "nobody@example.org", to_wire(MESSAGE))
    assert (refused.value.step, refused.value.code) == ("rcpt", 550)
    await send(session)
    await session.quit()
    assert [m.recipients for m in server.messages] == [("anne@example.org",)]


def _authenticator(
    server: object, session: object, envelope: object, mechanism: str, auth_data: object
) -> AuthResult:
    good = isinstance(auth_data, LoginPassword) and auth_data.password == b"secret"
    return AuthResult(success=good, handled=False)


@pytest.mark.parametrize("mechanisms", [["PLAIN", "LOGIN"], ["LOGIN"]])
async def test_the_sender_logs_in_with_plain_or_login(mechanisms: list[str]) -> None:
    excluded = [m for m in ("PLAIN", "LOGIN") if m not in mechanisms]
    with CapturingSmtpServer(
        authenticator=_authenticator, auth_require_tls=False, auth_exclude_mechanism=excluded
    ) as smtp:
        session = await SmtpSession.open(smtp.host, smtp.port, username="ifuno", password="secret")
        await send(session)
        await session.quit()
        wrong = SmtpEmailSender(
            smtp.host, smtp.port, "ifuno@example.org", username="ifuno", password="guess"
        )
        with pytest.raises(ServerUnavailable, match=r"SMTP 535 \(auth\)"):
            await wrong.send(_email())
    assert len(smtp.messages) == 1


def _certificate(folder: Path) -> tuple[Path, Path, bytes]:
    """A self-signed certificate for 127.0.0.1: its files and its PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(pem)
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return folder / "cert.pem", folder / "key.pem", pem


def _email() -> Email:
    return Email(
        "4b1c5a2e-0000-4000-8000-00000000000a", "anne@example.org", "r@x.org", "s", "t", None
    )


@pytest.mark.parametrize("tls", ["starttls", "tls"])
async def test_the_sender_speaks_tls_and_checks_the_servers_certificate(
    tls: str, tmp_path: Path
) -> None:
    certificate, key, pem = _certificate(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(certificate, key)
    options = {"tls_context": served} if tls == "starttls" else {"ssl_context": served}
    # aiosmtpd counts only STARTTLS as encryption when it requires it for logging in.
    with CapturingSmtpServer(
        **options, authenticator=_authenticator, auth_require_tls=tls == "starttls"
    ) as smtp:
        trusting = SmtpEmailSender(
            smtp.host,
            smtp.port,
            "ifuno@example.org",
            tls=tls,  # type: ignore[arg-type]
            username="ifuno",
            password="secret",
            ssl_context=ssl.create_default_context(cadata=pem.decode()),
        )
        await trusting.send(_email())
        await trusting.close_idle()
        unknown_certificate = SmtpEmailSender(smtp.host, smtp.port, "ifuno@example.org", tls=tls)  # type: ignore[arg-type]
        with pytest.raises(ServerUnavailable, match="SMTP unreachable"):
            await unknown_certificate.send(_email())
    assert [m.recipients for m in smtp.messages] == [("anne@example.org",)]


async def scripted(answers: dict[bytes, bytes], *, greeting: bytes = b"220 scripted\r\n") -> int:
    """A server answering each command by its verb (`answers`), else 250; its port."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(greeting)
        while line := await reader.readline():
            verb = line.split(b" ")[0].split(b":")[0].strip().upper()
            if verb == b"EHLO":
                writer.write(b"250-scripted\r\n250 STARTTLS\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 bye\r\n")
                break
            else:
                writer.write(
                    answers.get(verb, b"354 go on\r\n" if verb == b"DATA" else b"250 ok\r\n")
                )
        writer.close()

    listening = await asyncio.start_server(serve, "127.0.0.1", 0)
    return int(listening.sockets[0].getsockname()[1])


@pytest.mark.parametrize(
    ("answers", "failure", "reason"),
    [
        ({b"MAIL": b"552 5.3.4 message too big\r\n"}, PermanentFailure, r"message refused \(552\)"),
        ({b"MAIL": b"553 sender refused\r\n"}, ServerUnavailable, r"SMTP 553 \(mail\)"),
        ({b"RCPT": b"451 try later\r\n"}, TransientFailure, r"recipient refused \(451\)"),
        ({b"RCPT": b"421 closing\r\n"}, ServerUnavailable, r"SMTP 421 \(rcpt\)"),
    ],
)
async def test_what_each_refusal_means_for_the_message_and_the_server(
    answers: dict[bytes, bytes], failure: type[Exception], reason: str
) -> None:
    port = await scripted(answers)
    smtp = SmtpEmailSender("127.0.0.1", port, "ifuno@example.org", timeout=2.0)
    with pytest.raises(failure, match=reason):
        await smtp.send(_email())
    await smtp.close_idle()


def test_a_sender_address_no_envelope_takes_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="envelope"):
        SmtpEmailSender("127.0.0.1", 25, "Master IFUNO")
    with pytest.raises(ValueError, match="envelope"):
        SmtpEmailSender("127.0.0.1", 25, "ifuno@univ-lémans.fr")


async def test_bytes_sent_before_the_tls_handshake_are_refused() -> None:
    """STARTTLS response injection: a reply slipped in before the handshake would be
    read as if it came over TLS."""
    port = await scripted({b"STARTTLS": b"220 go ahead\r\n250 injected\r\n"})
    with pytest.raises(SmtpConnectionError, match="after the STARTTLS reply"):
        await SmtpSession.open("127.0.0.1", port, tls="starttls", timeout=2.0)


async def test_a_server_that_stops_reading_times_the_message_out() -> None:
    async def never_reads(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 x\r\n")
        await reader.readline()
        writer.write(b"250 x\r\n")
        for _ in range(3):
            await reader.readline()
        writer.write(b"250 ok\r\n250 ok\r\n354 go on\r\n")
        await asyncio.sleep(5)
        writer.close()

    listening = await asyncio.start_server(never_reads, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    async with listening:
        session = await SmtpSession.open("127.0.0.1", port, timeout=0.5)
        session.extensions["pipelining"] = ""
        huge = to_wire(b"a" * 76 + b"\n") * 500_000  # far more than the sockets buffer
        await session.begin("ifuno@example.org", "anne@example.org", huge)
        with pytest.raises(SmtpConnectionError, match="cannot write"):
            await session.end()
        session.abort()
