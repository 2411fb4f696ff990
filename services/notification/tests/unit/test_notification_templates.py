"""Snapshots of every message (HTML, text, SMS): accents, both offices, dates across a
daylight-saving change. `UPDATE_SNAPSHOTS=1` rewrites them; read the diff before committing."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ifuno_notification.adapters.renderer import render_email, render_sms
from ifuno_notification.domain import french
from ifuno_notification.domain.messages import (
    TEMPLATES,
    Message,
    Recipient,
    incomplete_reminder,
    messages_for,
    offer_reminder,
)
from ifuno_notification.domain.sms import is_gsm7, split_sms
from ifuno_shared.events import DocumentKind, Level, Regime
from ifuno_shared.events import candidature as c
from ifuno_shared.events import selection as s

pytestmark = pytest.mark.unit

SNAPSHOTS = Path(__file__).with_name("snapshots")
A = "P-2027-000123"
# Events carry instants in UTC: 21:59 UTC is 23:59 in Paris in summer (UTC+2), 22:59 UTC
# is 23:59 after the change to winter time on 31 October 2027 (UTC+1).
SUMMER = datetime(2027, 5, 15, 21, 59, tzinfo=UTC)
WINTER = datetime(2027, 11, 2, 22, 59, tzinfo=UTC)


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
        c.SubmissionDeadlineMoved(
            application_id=A,
            campaign=2027,
            round="main",
            submission_deadline=datetime(2027, 5, 22, 21, 59, tzinfo=UTC),
            complete=False,
        ),
        c.DocumentRejected(
            application_id=A,
            document_id="D",
            kind="diploma",
            reason="type de fichier non accepté (image/gif) : PDF, JPEG ou PNG",
        ),
        c.ApplicationRefused(application_id=A, reason="campaign_closed"),
        c.ApplicationWithdrawn(application_id=A),
        s.InterviewScheduled(
            application_id=A,
            starts_at=datetime(2027, 6, 3, 7, 30, tzinfo=UTC),
            ends_at=datetime(2027, 6, 3, 8, 0, tzinfo=UTC),
            location="Le Mans Université, campus du Tertre",
        ),
        s.Admitted(application_id=A, level="M2", offer_deadline=WINTER, from_waitlist=False),
        s.Admitted(application_id=A, level="M2", offer_deadline=SUMMER, from_waitlist=True),
        s.Waitlisted(application_id=A, level="M2", rank=3),
        s.WaitlistRankChanged(application_id=A, level="M2", rank=2, previous_rank=3),
        s.Refused(application_id=A, reason="absent_from_interview"),
        s.OfferExpired(application_id=A),
        s.OfferAccepted(application_id=A),
        s.OfferDeclined(application_id=A),
        s.WaitlistClosed(application_id=A, level="M2"),
        s.TwoYearPlanRecorded(application_id=A, level="M2"),
    ]
    found = [m for event in events for m in messages_for(event, who)]
    return [*found, incomplete_reminder(who), offer_reminder(who)]


def variants(who: Recipient) -> dict[str, Message]:
    """The other wordings of a template: each refusal reason, an interview by video in
    winter time, one on the first of a month, a file received without its deadline, a
    document refused once the file is closed (without a cause) and for each cause."""
    found: dict[str, Message] = {}
    for reason in french.CANDIDATURE_REFUSALS:
        refused = c.ApplicationRefused(
            application_id=A,
            reason=reason,
            missing_documents=[DocumentKind.CV, DocumentKind.VAPP_DECISION],
        )
        found[f"application_refused.{reason}"] = messages_for(refused, who)[0]
    for reason in [*french.SELECTION_REFUSALS, "a_reason_added_later"]:
        refused_by_selection = s.Refused(application_id=A, reason=reason)
        found[f"selection_refused.{reason}"] = messages_for(refused_by_selection, who)[0]
    by_video = s.InterviewScheduled(
        application_id=A,
        starts_at=datetime(2027, 11, 3, 13, 0, tzinfo=UTC),
        ends_at=datetime(2027, 11, 3, 13, 30, tzinfo=UTC),
        video_url="https://visio.univ-lemans.fr/ifuno?salle=7&code=<b>",
    )
    found["interview_scheduled.video"] = messages_for(by_video, who)[0]
    short_notice = s.InterviewScheduled(
        application_id=A,
        starts_at=datetime(2027, 6, 8, 12, 0, tzinfo=UTC),
        ends_at=datetime(2027, 6, 8, 12, 30, tzinfo=UTC),
        notice_days=4,
        short_notice=True,
    )
    found["interview_scheduled.short_notice"] = messages_for(short_notice, who)[0]
    first_of_month = s.InterviewScheduled(
        application_id=A,
        starts_at=datetime(2027, 6, 1, 7, 0, tzinfo=UTC),
        ends_at=datetime(2027, 6, 1, 7, 30, tzinfo=UTC),
        location="Le Mans Université, campus du Tertre",
    )
    found["interview_scheduled.first_of_month"] = messages_for(first_of_month, who)[0]
    late_answer = s.Waitlisted(application_id=A, level="M2", rank=1, late_answer=True)
    found["waitlisted.late_answer"] = messages_for(late_answer, who)[0]
    without_deadline = c.ApplicationReceived(
        application_id=A,
        campaign=2027,
        round="main",
        level="M2",
        regime=who.regime,
        missing_documents=[DocumentKind.CV],
        eligibility=c.Eligibility(eligible=True),
    )
    found["application_received.without_deadline"] = messages_for(without_deadline, who)[0]
    closed = replace(who, closed=True)
    late_document = c.DocumentRejected(
        application_id=A,
        document_id="D-9",
        kind="cv",
        reason="candidature refusée : document non ajouté",
    )
    found["document_rejected.closed"] = messages_for(late_document, closed)[0]
    for cause, reason, state in [
        ("invalid_file", "fichier trop volumineux (12000000 octets) : 10 Mo au plus", who),
        ("late", "document déposé après la date limite : non ajouté", who),
        ("file_closed", "candidature retirée : document non ajouté", closed),
        (
            "on_time_after_closing",
            "document déposé à temps mais reçu après la clôture du dossier : non ajouté, "
            "signalé au service",
            closed,
        ),
    ]:
        rejected = c.DocumentRejected(
            application_id=A, document_id="D-7", kind="cover_letter", reason=reason, cause=cause
        )
        found[f"document_rejected.{cause}"] = messages_for(rejected, state)[0]
    return found


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


def test_every_refusal_reason_and_variant_matches_its_snapshot() -> None:
    for name, message in variants(recipient(Regime.FORMATION_INITIALE)).items():
        email = render_email(message)
        stem = f"variants/{name}"
        check(f"{stem}.txt", f"Subject: {email.subject}\n\n{email.text}")
        check(f"{stem}.html", email.html)
        check(f"{stem}.sms.txt", render_sms(message) + "\n")


def test_each_known_refusal_reason_is_explained_not_the_fallback() -> None:
    who = recipient(Regime.REPRISE_ETUDES)
    for name, message in variants(who).items():
        if name.startswith(("application_refused.", "selection_refused.")):
            known = not name.endswith("a_reason_added_later")
            assert (french.UNKNOWN_REFUSAL not in render_email(message).text) is known, name


def test_missing_documents_are_listed_only_for_a_file_closed_incomplete() -> None:
    found = variants(recipient(Regime.FORMATION_INITIALE))
    closed = render_email(found["application_refused.incomplete_at_deadline"]).text
    assert "- votre CV" in closed
    late = render_email(found["application_refused.campaign_closed"]).text
    assert "votre CV" not in late and "en dehors des périodes de dépôt" in late


def test_html_escapes_what_the_candidate_typed() -> None:
    html = render_email(
        messages_for(c.ApplicationCompleted(application_id=A), recipient(Regime.ALTERNANCE))[0]
    ).html
    assert "&lt;script&gt;" in html and "<script>" not in html
    by_video = render_email(variants(recipient(Regime.ALTERNANCE))["interview_scheduled.video"])
    assert "salle=7&amp;code=&lt;b&gt;" in by_video.html and "<b>" not in by_video.html


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


def test_the_first_of_the_month_is_written_1er_in_paris_time() -> None:
    assert french.date_fr(datetime(2027, 6, 1, 7, 0, tzinfo=UTC)) == "mardi 1er juin 2027"
    # 22:30 UTC on 31 May is already 1 June in Paris; 2 June stays « 2 ».
    assert french.datetime_fr(datetime(2027, 5, 31, 22, 30, tzinfo=UTC)) == (
        "mardi 1er juin 2027 à 0 h 30"
    )
    assert french.date_fr(datetime(2027, 6, 2, 7, 0, tzinfo=UTC)) == "mercredi 2 juin 2027"
    found = variants(recipient(Regime.FORMATION_INITIALE))
    assert "mardi 1er juin 2027" in render_email(found["interview_scheduled.first_of_month"]).text


def test_the_repeated_hour_of_the_october_change_reads_as_paris_time_each_time() -> None:
    before = datetime(2027, 10, 31, 0, 30, tzinfo=UTC)  # 02:30 summer time
    after = datetime(2027, 10, 31, 1, 30, tzinfo=UTC)  # 02:30 again, winter time
    assert (
        french.datetime_fr(before)
        == french.datetime_fr(after)
        == ("dimanche 31 octobre 2027 à 2 h 30")
    )
    assert french.datetime_fr(datetime(2027, 3, 28, 1, 0, tzinfo=UTC)) == (
        "dimanche 28 mars 2027 à 3 h 00"
    )


def test_an_interview_across_the_october_change_is_given_in_paris_winter_time() -> None:
    text = render_email(variants(recipient(Regime.ALTERNANCE))["interview_scheduled.video"]).text
    assert "mercredi 3 novembre 2027 de 14 h 00 à 14 h 30 (heure de Paris)" in text


def test_every_sms_is_signed_by_the_office_of_the_regime() -> None:
    for regime, office in [
        (Regime.FORMATION_INITIALE, "Scolarité UFR LLSH"),
        (Regime.ALTERNANCE, "SFC Le Mans Université"),
    ]:
        who = recipient(regime)
        for message in [*every_message(who), *variants(who).values()]:
            assert render_sms(message).endswith(f" - {office}"), message.template


def test_the_new_season_messages_say_what_happened() -> None:
    who = recipient(Regime.FORMATION_INITIALE)
    found = variants(who)
    closed = messages_for(s.WaitlistClosed(application_id=A, level="M2"), who)[0]
    assert "Aucune place ne sera proposée" in render_email(closed).text
    assert "aucune place ne sera proposée" in render_sms(closed)
    late = render_email(found["waitlisted.late_answer"]).text
    assert "envoyée dans les délais" in late and "rang 1" in late
    short = render_email(found["interview_scheduled.short_notice"]).text
    assert "moins de 7 jours avant l'entretien (4 jours)" in short
    usual = render_email(messages_for(s.Waitlisted(application_id=A, level="M2", rank=3), who)[0])
    assert "délais" not in usual.text


def test_an_acceptance_is_confirmed_as_an_acceptance_not_an_enrolment() -> None:
    """Enrolment comes later, through the office: the candidate must not think it done."""
    accepted = messages_for(s.OfferAccepted(application_id=A), recipient(Regime.ALTERNANCE))[0]
    email = render_email(accepted)
    assert "acceptation" in email.subject and "inscription" not in email.subject
    assert "Les modalités d'inscription vous seront communiquées" in email.text


def test_a_file_received_without_its_deadline_is_told_of_the_deadline_in_words() -> None:
    """`submission_deadline` is optional in the event: never « avant le None »."""
    message = variants(recipient(Regime.FORMATION_INITIALE))[
        "application_received.without_deadline"
    ]
    email = render_email(message)
    for text in (email.text, email.html, render_sms(message)):
        assert "None" not in text and "la date limite" in text


def test_only_a_bad_file_on_an_open_file_is_asked_again() -> None:
    """A late document sent again would be refused again: it is told the deadline has
    passed, not the accepted file types."""
    found = variants(recipient(Regime.FORMATION_CONTINUE))
    texts = {
        cause: (render_email(found[f"document_rejected.{cause}"]).text, render_sms(m))
        for cause in ("invalid_file", "late", "file_closed", "on_time_after_closing")
        if (m := found[f"document_rejected.{cause}"])
    }
    for cause, (email, sms) in texts.items():
        asks_again = "Merci de déposer à nouveau" in email and "Merci de le déposer" in sms
        assert asks_again is (cause == "invalid_file"), cause
        assert ("PDF, JPEG ou PNG" in email) is (cause == "invalid_file"), cause
        assert is_gsm7(sms), cause
    assert "La date limite de dépôt des pièces est passée" in texts["late"][0]
    assert "La date limite est passée" in texts["late"][1]
    assert "n'étant plus en cours d'examen" in texts["file_closed"][0]
    staff = texts["on_time_after_closing"][0]
    assert "déposé dans les délais" in staff and "qui l'examinera" in staff


def test_every_sms_fits_one_message() -> None:
    for regime in (Regime.FORMATION_INITIALE, Regime.REPRISE_ETUDES):
        who = recipient(regime)
        for message in [*every_message(who), *variants(who).values()]:
            assert len(split_sms(render_sms(message))) == 1, message.template
