"""The email as written by the sender, read back by Python's own MIME parser."""

from __future__ import annotations

import email
from email import policy

import pytest
from ifuno_notification.adapters.senders import Email, PermanentFailure, SmtpEmailSender

pytestmark = pytest.mark.unit

SENDER = SmtpEmailSender("localhost", 25, "Master MEEF PIF — IFUNO <ifuno@univ-lemans.fr>")
TEXT = "Bonjour Anaïs,\n\nVotre dossier est « complet » depuis le 3 mai 2027 à 14 h 05.\n" * 8
HTML = "<p>Bonjour Anaïs,</p>\n<p>Votre dossier est <strong>complet</strong>.</p>\n" * 8


def message(html: str | None = HTML, to: str = "anais.lemaitre@example.fr") -> Email:
    return Email(
        message_id="6f1d2c3b-aaaa-4bbb-8ccc-123456789abc",
        to=to,
        reply_to="scola-let@univ-lemans.fr",
        subject="Votre candidature au Master MEEF PIF — parcours IFUNO a bien été reçue",
        text=TEXT,
        html=html,
    )


def test_both_parts_headers_and_french_text_read_back_unchanged() -> None:
    parsed = email.message_from_bytes(SENDER.build(message()), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["Subject"] == message().subject
    assert parsed["From"].addresses[0].display_name == "Master MEEF PIF — IFUNO"
    assert parsed["To"] == "anais.lemaitre@example.fr"
    assert parsed["Reply-To"] == "scola-let@univ-lemans.fr"
    assert parsed["Message-ID"] == "<6f1d2c3b-aaaa-4bbb-8ccc-123456789abc@ifuno.univ-lemans.fr>"
    assert parsed["Date"].datetime is not None
    assert parsed.get_body(("plain",)).get_content() == TEXT
    assert parsed.get_body(("html",)).get_content() == HTML
    assert not parsed.defects
    assert all(not part.defects for part in parsed.walk())
    assert max(map(len, SENDER.build(message()).split(b"\n"))) <= 998  # RFC 5322


def test_a_text_only_email_is_one_part() -> None:
    parsed = email.message_from_bytes(SENDER.build(message(html=None)), policy=policy.default)
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content() == TEXT
    assert not parsed.defects


def test_an_address_with_a_line_break_is_never_written_as_a_header() -> None:
    with pytest.raises(PermanentFailure):
        SENDER.build(message(to="a@example.fr\nBcc: b@example.fr"))
