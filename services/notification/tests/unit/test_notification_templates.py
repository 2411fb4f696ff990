"""Snapshots of every message (HTML, text, SMS): accents, both offices, dates across a
daylight-saving change. `UPDATE_SNAPSHOTS=1` rewrites them; read the diff before committing."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest
from ifuno_notification.adapters.renderer import render_email, render_sms
from ifuno_notification.domain.messages import (
    TEMPLATES,
    Message,
    Recipient,
    incomplete_reminder,
    messages_for,
    offer_reminder,
)
from ifuno_notification.domain.sms import split_sms
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import DocumentKind, Level, Regime
from ifuno_shared.events import candidature as c
from ifuno_shared.events import selection as s

pytestmark = pytest.mark.unit

SNAPSHOTS = Path(__file__).with_name("snapshots")
A = "P-2027-000123"
SUMMER = datetime(2027, 5, 15, 23, 59, tzinfo=PARIS)
WINTER = datetime(2027, 11, 2, 23, 59, tzinfo=PARIS)  # after the October change


def recipient(regime: Regime) -> Recipient:
    return Recipient(
        application_id=A,
        campaign=2027,
        level=Level.M2,
        regime=regime,
        contact=c.Contact(
            candidate_id="C-1",
            first_name="Hélène",
            last_name="Lefèvre-Ørsted <script>",
            email="helene@example.org",
            phone="+33612345678",
            sms_opt_in=True,
        ),
        submission_deadline=SUMMER,
        offer_deadline=WINTER,
    )


def every_message(who: Recipient) -> list[Message]:
    events = [
        c.ApplicationReceived(
            application_id=A,
            campaign=2027,
            round="main",
            level="M2",
            regime=who.regime,
            missing_documents=[DocumentKind.JOB_DESCRIPTION, DocumentKind.DIPLOMA],
            eligibility=c.Eligibility(eligible=True),
            submission_deadline=SUMMER,
        ),
        c.ApplicationCompleted(application_id=A),
        c.DocumentRejected(application_id=A, document_id="D", kind="diploma", reason="x"),
        c.ApplicationRefused(application_id=A, reason="campaign_closed"),
        c.ApplicationWithdrawn(application_id=A),
        s.InterviewScheduled(
            application_id=A,
            starts_at=datetime(2027, 6, 3, 9, 30, tzinfo=PARIS),
            ends_at=datetime(2027, 6, 3, 10, 0, tzinfo=PARIS),
            location="Le Mans Université, campus du Tertre",
        ),
        s.Admitted(application_id=A, level="M2", offer_deadline=WINTER, from_waitlist=False),
        s.Admitted(application_id=A, level="M2", offer_deadline=SUMMER, from_waitlist=True),
        s.Waitlisted(application_id=A, level="M2", rank=3),
        s.WaitlistRankChanged(application_id=A, level="M2", rank=2),
        s.Refused(application_id=A, reason="absent_from_interview"),
        s.OfferExpired(application_id=A),
        s.OfferAccepted(application_id=A),
        s.OfferDeclined(application_id=A),
    ]
    found = [m for event in events for m in messages_for(event, who)]
    return [*found, incomplete_reminder(who), offer_reminder(who)]


def check(name: str, rendered: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"no snapshot {path}: run with UPDATE_SNAPSHOTS=1 and read it"
    assert rendered == path.read_text(encoding="utf-8"), f"{name} changed"


@pytest.mark.parametrize("regime", [Regime.FORMATION_INITIALE, Regime.FORMATION_CONTINUE])
def test_every_message_matches_its_snapshot(regime: Regime) -> None:
    messages = every_message(recipient(regime))
    assert {m.template for m in messages} == set(TEMPLATES)
    for message in messages:
        email = render_email(message)
        stem = f"{regime.value}/{message.template}"
        check(f"{stem}.txt", f"Subject: {email.subject}\n\n{email.text}")
        check(f"{stem}.html", email.html)
        check(f"{stem}.sms.txt", render_sms(message) + "\n")


def test_html_escapes_what_the_candidate_typed() -> None:
    html = render_email(
        messages_for(c.ApplicationCompleted(application_id=A), recipient(Regime.ALTERNANCE))[0]
    ).html
    assert "&lt;script&gt;" in html and "<script>" not in html


def test_the_signature_is_the_office_of_the_regime() -> None:
    completed = c.ApplicationCompleted(application_id=A)
    initial = render_email(messages_for(completed, recipient(Regime.FORMATION_INITIALE))[0]).text
    assert "scola-let@univ-lemans.fr" in initial and "02 43 83 31 90" in initial
    for regime in set(Regime) - {Regime.FORMATION_INITIALE}:
        text = render_email(messages_for(completed, recipient(regime))[0]).text
        assert "sfc@univ-lemans.fr" in text and "02 43 83 32 00" in text
        assert "contacts.ifuno@univ-lemans.fr" in text


def test_dates_are_in_french_and_paris_time_across_the_october_change() -> None:
    who = recipient(Regime.FORMATION_CONTINUE)
    summer = render_email(incomplete_reminder(who)).text
    assert "samedi 15 mai 2027 à 23 h 59" in summer
    winter = render_email(offer_reminder(who)).text
    assert "mardi 2 novembre 2027 à 23 h 59" in winter


def test_every_sms_fits_one_message() -> None:
    for regime in (Regime.FORMATION_INITIALE, Regime.REPRISE_ETUDES):
        for message in every_message(recipient(regime)):
            assert len(split_sms(render_sms(message))) == 1, message.template
