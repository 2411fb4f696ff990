"""The two adapters against a real SMTP server and the HTTP SMS gateway: what each
answer of the server becomes (sent, permanent failure, server unavailable)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from ifuno_notification.adapters.senders import (
    Email,
    GatewaySmsSender,
    PermanentFailure,
    ServerUnavailable,
    SmtpEmailSender,
)
from ifuno_tools.local import CapturingSmtpServer, FakeSmsGateway

pytestmark = pytest.mark.integration


def email(to: str = "anne@example.org") -> Email:
    return Email(
        message_id="4b1c5a2e-0000-4000-8000-000000000001",
        to=to,
        reply_to="contacts.ifuno@univ-lemans.fr",
        subject="Votre dossier de candidature est complet",
        text="Bonjour Anne,\n\nVotre dossier est complet.\n",
        html="<p>Bonjour Anne,</p><p>Votre dossier est <strong>complet</strong>.</p>",
    )


def sender(smtp: CapturingSmtpServer, copy_dir: Path | None = None) -> SmtpEmailSender:
    return SmtpEmailSender(
        smtp.host, smtp.port, "Master IFUNO <contacts.ifuno@univ-lemans.fr>", copy_dir=copy_dir
    )


async def test_an_email_carries_a_stable_message_id_both_parts_and_a_kept_copy(
    smtp_server: CapturingSmtpServer, tmp_path: Path
) -> None:
    smtp = sender(smtp_server, copy_dir=tmp_path / "sent")
    async with smtp.connection():
        await smtp.send(email())
    [mail] = smtp_server.messages
    message = mail.message
    assert mail.recipients == ("anne@example.org",)
    assert message["Message-ID"] == "<4b1c5a2e-0000-4000-8000-000000000001@ifuno.univ-lemans.fr>"
    assert message["Reply-To"] == "contacts.ifuno@univ-lemans.fr"
    assert "Votre dossier est complet." in message.get_body(("plain",)).get_content()
    assert "<strong>complet</strong>" in message.get_body(("html",)).get_content()
    copy = tmp_path / "sent" / "4b1c5a2e-0000-4000-8000-000000000001.eml"
    assert b"Message-ID: <4b1c5a2e" in copy.read_bytes()


async def test_a_connection_is_kept_for_the_next_run_unless_idle_too_long(
    smtp_server: CapturingSmtpServer,
) -> None:
    keeping = sender(smtp_server)
    for n in range(3):
        async with keeping.connection() as run:
            await run.send(email(f"p{n}@example.org"))
    await keeping.close_idle()
    assert len({mail.peer for mail in smtp_server.messages}) == 1
    brief = SmtpEmailSender(smtp_server.host, smtp_server.port, "ifuno@example.org", keep_idle=0.05)
    for n in range(2):
        async with brief.connection() as run:
            await run.send(email(f"q{n}@example.org"))
        await asyncio.sleep(0.1)
    await brief.close_idle()
    assert len({mail.peer for mail in smtp_server.messages[3:]}) == 2


async def test_french_text_survives_in_the_subject_the_sender_name_and_both_parts(
    smtp_server: CapturingSmtpServer,
) -> None:
    smtp = SmtpEmailSender(
        smtp_server.host, smtp_server.port, "Université — Master IFUNO <ifuno@univ-lemans.fr>"
    )
    accented = Email(
        message_id="4b1c5a2e-0000-4000-8000-000000000002",
        to="anne@example.org",
        reply_to="fc.ifuno@univ-lemans.fr",
        subject="Votre candidature a été reçue : dossier complet à l'étude",
        text="Bonjour Anaïs,\n\nÉtape franchie, « complet ».\n",
        html="<p>Bonjour Anaïs, étape franchie, « complet ».</p>",
    )
    async with smtp.connection():
        await smtp.send(accented)
    [mail] = smtp_server.messages
    assert mail.mail_from == "ifuno@univ-lemans.fr"
    message = mail.message
    assert message["Subject"] == accented.subject
    assert message["From"].addresses[0].display_name == "Université — Master IFUNO"
    assert "Étape franchie, « complet »." in message.get_body(("plain",)).get_content()
    assert "Anaïs, étape" in message.get_body(("html",)).get_content()


async def test_a_refused_recipient_is_a_permanent_failure_and_the_next_email_still_goes(
    smtp_server: CapturingSmtpServer,
) -> None:
    smtp_server.reject("nobody@*")
    smtp = sender(smtp_server)
    async with smtp.connection():
        with pytest.raises(PermanentFailure, match="550"):
            await smtp.send(email("nobody@example.org"))
        await smtp.send(email())
    assert [m.recipients for m in smtp_server.messages] == [("anne@example.org",)]


async def test_an_unreachable_smtp_server_is_unavailable_not_a_refusal(
    smtp_server: CapturingSmtpServer,
) -> None:
    smtp_server.stop()
    smtp = sender(smtp_server)
    async with smtp.connection():
        with pytest.raises(ServerUnavailable, match="SMTP unreachable"):
            await smtp.send(email())


async def test_an_sms_is_posted_with_the_message_id_as_idempotency_key(
    sms_gateway: FakeSmsGateway,
) -> None:
    gateway = GatewaySmsSender(sms_gateway.url, sms_gateway.token)
    await gateway.send("m-1", "+33612345678", "Master IFUNO : votre dossier est complet.")
    await gateway.send("m-1", "+33612345678", "Master IFUNO : votre dossier est complet.")
    assert [(m.to, m.idempotency_key) for m in sms_gateway.messages] == [("+33612345678", "m-1")]


async def test_a_long_sms_is_sent_in_parts_each_with_its_own_key(
    sms_gateway: FakeSmsGateway,
) -> None:
    gateway = GatewaySmsSender(sms_gateway.url, sms_gateway.token)
    await gateway.send("m-2", "+33612345678", "Entretien à Le Mans. " * 10)
    parts = sms_gateway.messages
    assert [m.idempotency_key for m in parts] == ["m-2:1/2", "m-2:2/2"]
    assert "".join(m.text for m in parts) == "Entretien à Le Mans. " * 10


async def test_a_gateway_down_or_busy_is_unavailable(sms_gateway: FakeSmsGateway) -> None:
    gateway = GatewaySmsSender(sms_gateway.url, sms_gateway.token)
    for status in (503, 429, 408):
        sms_gateway.fail_next(1, status)
        with pytest.raises(ServerUnavailable, match=str(status)):
            await gateway.send("m-3", "+336", "x")
    sms_gateway.stop()
    with pytest.raises(ServerUnavailable, match="unreachable"):
        await gateway.send("m-3", "+336", "x")
    assert sms_gateway.messages == []


async def test_any_other_4xx_is_a_permanent_failure_our_token_included(
    sms_gateway: FakeSmsGateway,
) -> None:
    sms_gateway.fail_next(1, 400)
    with pytest.raises(PermanentFailure, match=r"refused the request \(400\)"):
        await GatewaySmsSender(sms_gateway.url, sms_gateway.token).send("m-4", "+336", "x")
    with pytest.raises(PermanentFailure, match="401"):
        await GatewaySmsSender(sms_gateway.url, "wrong").send("m-4", "+336", "x")
    with pytest.raises(PermanentFailure, match="401"):
        await GatewaySmsSender(sms_gateway.url, None).send("m-4", "+336", "x")
    assert sms_gateway.messages == []


async def test_without_a_token_no_authorization_header_is_sent() -> None:
    with FakeSmsGateway(token=None) as open_gateway:
        await GatewaySmsSender(open_gateway.url, None).send("m-5", "+33612345678", "x")
        [sms] = open_gateway.messages
    assert sms.authorization is None
