"""Notification through a real broker, PostgreSQL, SMTP server and an HTTP SMS gateway.

Waits are on outcomes (the staff endpoint shows every message of an application
settled), never on time: once a message is settled it is never sent again, so the
mail and SMS counted then are final.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from ifuno_candidature.config import CandidatureSettings
from ifuno_candidature.entrypoints.service import MIGRATIONS_DIR as CANDIDATURE_MIGRATIONS
from ifuno_candidature.entrypoints.service import build_definition as candidature_definition
from ifuno_notification.config import NotificationSettings
from ifuno_notification.entrypoints.service import MIGRATIONS_DIR, build_definition
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import CloudEvent, EventData, Regime, Topic, new_event, portal
from ifuno_shared.events import candidature as c
from ifuno_shared.events import selection as s
from ifuno_shared.events.timeline import ClockAdvanced
from ifuno_shared.persistence.migrations import upgrade_async
from ifuno_shared.runtime import ServiceRunner
from ifuno_tools.local import CapturingSmtpServer, FakeSmsGateway, PostgresAdmin
from ifuno_tools.testing.kafka import kafka_consume, produce_events

pytestmark = pytest.mark.integration

DEADLINE = datetime(2027, 5, 15, 23, 59, tzinfo=PARIS)
OFFER_DEADLINE = datetime(2027, 7, 5, 23, 59, tzinfo=PARIS)
REVIEWER = {"Authorization": "Bearer reviewer-token"}
VIEWER = {"Authorization": "Bearer viewer-token"}


def phone_of(application_id: str) -> str:
    return "+336" + "".join(ch for ch in application_id if ch.isdigit()).rjust(8, "0")


def email_of(application_id: str) -> str:
    return f"{application_id.lower()}@example.org"


def contact(application_id: str, *, sms: bool, email: str | None = None) -> c.Contact:
    return c.Contact(
        candidate_id=f"C-{application_id}",
        first_name="Élodie",
        last_name="Brûlé",
        email=email or email_of(application_id),
        phone=phone_of(application_id),
        sms_opt_in=sms,
    )


def received(
    application_id: str,
    *,
    sms: bool = False,
    missing: bool = False,
    email: str | None = None,
    regime: Regime = Regime.FORMATION_INITIALE,
    deadline: datetime = DEADLINE,
) -> CloudEvent:
    return new_event(
        c.ApplicationReceived(
            application_id=application_id,
            campaign=2027,
            round="main",
            level="M1",
            regime=regime,
            missing_documents=["diploma"] if missing else [],
            eligibility=c.Eligibility(eligible=True),
            candidate=contact(application_id, sms=sms, email=email),
            submitted_at=datetime(2027, 5, 2, 10, 0, tzinfo=PARIS),
            submission_deadline=deadline,
            complete=not missing,
        ),
        subject=application_id,
    )


def event(application_id: str, data: EventData) -> CloudEvent:
    return new_event(data, subject=application_id)


def admitted(application_id: str, *, from_waitlist: bool) -> CloudEvent:
    return event(
        application_id,
        s.Admitted(
            application_id=application_id,
            level="M1",
            offer_deadline=OFFER_DEADLINE,
            from_waitlist=from_waitlist,
        ),
    )


@pytest.fixture
async def migrated(database_url: str) -> str:
    await upgrade_async(database_url, MIGRATIONS_DIR)
    return database_url


@contextlib.asynccontextmanager
async def running(
    database_url: str,
    bootstrap: str,
    smtp: CapturingSmtpServer,
    gateway: FakeSmsGateway,
    *,
    dispatch_interval: float = 0.05,
) -> AsyncIterator[ServiceRunner]:
    settings = NotificationSettings(
        database_url=database_url,
        kafka_bootstrap=bootstrap,
        http_port=0,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        sms_gateway_url=gateway.url,
        sms_gateway_token=gateway.token,
        api_tokens={"viewer-token": "viewer", "reviewer-token": "reviewer"},
        dispatch_interval=dispatch_interval,
    )
    async with ServiceRunner(build_definition(settings, session_timeout_ms=3000)) as runner:
        yield runner


@pytest.fixture
async def service(
    migrated: str, kafka, smtp_server: CapturingSmtpServer, sms_gateway: FakeSmsGateway
) -> AsyncIterator[ServiceRunner]:
    async with running(migrated, kafka.bootstrap, smtp_server, sms_gateway) as runner:
        yield runner


async def listed(service: ServiceRunner, application_id: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http_port}") as http:
        response = await http.get(f"/v1/applications/{application_id}/messages", headers=REVIEWER)
    response.raise_for_status()
    return list(response.json())


async def settled(
    service: ServiceRunner, application_id: str, count: int, timeout: float = 60.0
) -> list[dict[str, Any]]:
    """The application's messages once `count` are recorded and each is sent or failed."""
    async with asyncio.timeout(timeout):
        while True:
            found = await listed(service, application_id)
            if len(found) >= count and all(m["status"] in ("sent", "failed") for m in found):
                return found
            await asyncio.sleep(0.1)


async def until(condition: Callable[[], Any], timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.1)


def subjects(smtp: CapturingSmtpServer, address: str) -> list[str]:
    return sorted(str(m["Subject"]) for m in smtp.to(address))


def text_of(smtp: CapturingSmtpServer, address: str, subject_start: str) -> str:
    mail = next(m for m in smtp.to(address) if str(m["Subject"]).startswith(subject_start))
    return str(mail.get_body(("plain",)).get_content())


PATHS: dict[str, tuple[Regime, list[str]]] = {
    "E-1": (
        Regime.FORMATION_INITIALE,
        [
            "Votre candidature au master IFUNO a bien été reçue",
            "Votre dossier de candidature est complet",
            "Convocation à l'entretien de sélection du master IFUNO",
            "Vous êtes sur liste complémentaire du master IFUNO",
            "Votre rang sur la liste complémentaire a changé",
            "Une place s'est libérée : vous êtes admis(e) au master IFUNO",
            "Confirmation de votre acceptation de la proposition d'admission au master IFUNO",
        ],
    ),
    "E-2": (
        Regime.FORMATION_CONTINUE,
        [
            "Votre candidature au master IFUNO a bien été reçue",
            "Un document de votre candidature n'a pas pu être accepté",
            "Vous êtes admis(e) au master IFUNO",
            "Votre proposition d'admission a expiré",
        ],
    ),
    "E-3": (
        Regime.ALTERNANCE,
        [
            "Votre candidature au master IFUNO a bien été reçue",
            "Vous êtes admis(e) au master IFUNO",
            "Confirmation de votre renoncement au master IFUNO",
        ],
    ),
    "E-4": (
        Regime.REPRISE_ETUDES,
        [
            "Votre candidature au master IFUNO a bien été reçue",
            "Décision de la commission de sélection du master IFUNO",
        ],
    ),
    "E-5": (
        Regime.CONTRAT_PROFESSIONNALISATION,
        [
            "Votre candidature au master IFUNO a bien été reçue",
            "Confirmation du retrait de votre candidature",
        ],
    ),
    "E-6": (Regime.FORMATION_INITIALE, ["Votre candidature au master IFUNO"]),
    "E-7": (
        Regime.FORMATION_CONTINUE,
        ["Votre candidature au master IFUNO a bien été reçue", "Votre candidature au master IFUNO"],
    ),
}


def every_event_type() -> list[CloudEvent]:
    def rec(application_id: str, **options: Any) -> CloudEvent:
        return received(application_id, regime=PATHS[application_id][0], **options)

    return [
        rec("E-1", sms=True, missing=True),
        event("E-1", c.ApplicationCompleted(application_id="E-1")),
        event(
            "E-1",
            s.InterviewScheduled(
                application_id="E-1",
                starts_at=datetime(2027, 6, 3, 9, 30, tzinfo=PARIS),
                ends_at=datetime(2027, 6, 3, 10, 0, tzinfo=PARIS),
                video_url="https://visio.univ-lemans.fr/ifuno-42",
            ),
        ),
        event("E-1", s.Waitlisted(application_id="E-1", level="M1", rank=2)),
        event("E-1", s.WaitlistRankChanged(application_id="E-1", level="M1", rank=1)),
        admitted("E-1", from_waitlist=True),
        event("E-1", s.OfferAccepted(application_id="E-1")),
        rec("E-2"),
        event(
            "E-2",
            c.DocumentRejected(
                application_id="E-2", document_id="D-2", kind="cv", reason="fichier vide"
            ),
        ),
        admitted("E-2", from_waitlist=False),
        event("E-2", s.OfferExpired(application_id="E-2")),
        rec("E-3"),
        admitted("E-3", from_waitlist=False),
        event("E-3", s.OfferDeclined(application_id="E-3")),
        rec("E-4"),
        event("E-4", s.Refused(application_id="E-4", reason="below_shortlist_threshold")),
        rec("E-5"),
        event("E-5", c.ApplicationWithdrawn(application_id="E-5")),
        event(
            "E-6",
            c.ApplicationRefused(
                application_id="E-6",
                reason="campaign_closed",
                campaign=2027,
                level="M1",
                regime=PATHS["E-6"][0],
                candidate=contact("E-6", sms=False),
            ),
        ),
        rec("E-7", missing=True),
        event(
            "E-7",
            c.ApplicationRefused(
                application_id="E-7", reason="incomplete_at_deadline", missing_documents=["diploma"]
            ),
        ),
    ]


async def test_each_event_type_sends_the_right_message_to_the_right_address(
    service: ServiceRunner, kafka, smtp_server: CapturingSmtpServer, sms_gateway: FakeSmsGateway
) -> None:
    await produce_events(kafka.bootstrap, every_event_type())
    for application_id, (_, expected) in PATHS.items():
        sms = len(expected) if application_id == "E-1" else 0
        messages = await settled(service, application_id, len(expected) + sms)
        assert {m["status"] for m in messages} == {"sent"}, application_id
        assert subjects(smtp_server, email_of(application_id)) == sorted(expected)
    # Each office signs for its regimes; each refusal says why.
    assert "scola-let@univ-lemans.fr" in text_of(smtp_server, email_of("E-1"), "Convocation")
    assert "https://visio.univ-lemans.fr/ifuno-42" in text_of(
        smtp_server, email_of("E-1"), "Convocation"
    )
    assert "jeudi 3 juin 2027 de 9 h 30 à 10 h 00" in text_of(
        smtp_server, email_of("E-1"), "Convocation"
    )
    assert "sfc@univ-lemans.fr" in text_of(smtp_server, email_of("E-2"), "Vous êtes admis")
    assert "lundi 5 juillet 2027 à 23 h 59" in text_of(
        smtp_server, email_of("E-2"), "Vous êtes admis"
    )
    assert "en dehors des périodes de dépôt" in text_of(
        smtp_server, email_of("E-6"), "Votre candidature au master IFUNO"
    )
    refused_incomplete = [
        str(m.get_body(("plain",)).get_content())
        for m in smtp_server.to(email_of("E-7"))
        if str(m["Subject"]) == "Votre candidature au master IFUNO"
    ]
    assert "incomplet à la date limite" in refused_incomplete[0]
    # SMS: only E-1 opted in; each keyed by its message's id, like each email's Message-ID.
    e1 = await listed(service, "E-1")
    assert sorted(m.to for m in sms_gateway.messages) == [phone_of("E-1")] * 7
    assert {m.idempotency_key for m in sms_gateway.messages} == {
        m["id"] for m in e1 if m["channel"] == "sms"
    }
    assert {str(mail["Message-ID"]) for mail in smtp_server.to(email_of("E-1"))} == {
        f"<{m['id']}@ifuno.univ-lemans.fr>" for m in e1 if m["channel"] == "email"
    }
    total = sum(len(expected) for _, expected in PATHS.values()) + 7
    outcomes = await kafka_consume(kafka.bootstrap, Topic.NOTIFICATION.value, total)
    assert {json.loads(r.value)["type"] for r in outcomes} == {"ifuno.notification.sent.v1"}
    assert len(outcomes) == total


async def test_the_same_event_delivered_twice_sends_one_email(
    service: ServiceRunner, kafka, smtp_server: CapturingSmtpServer
) -> None:
    first = received("A-2")
    later = event("A-2", c.ApplicationCompleted(application_id="A-2"))
    # One key, one partition: `later` is read after both copies of `first`.
    await produce_events(kafka.bootstrap, [first, first, later])
    messages = await settled(service, "A-2", 2)
    assert sorted(m["template"] for m in messages) == [
        "application_completed",
        "application_received",
    ]
    assert subjects(smtp_server, email_of("A-2")) == [
        "Votre candidature au master IFUNO a bien été reçue",
        "Votre dossier de candidature est complet",
    ]


async def test_messages_queued_wake_the_dispatcher_without_waiting_for_its_poll(
    migrated: str, kafka, smtp_server: CapturingSmtpServer, sms_gateway: FakeSmsGateway
) -> None:
    hour = 3600.0  # the poll alone would send nothing within the test's minute
    async with running(
        migrated, kafka.bootstrap, smtp_server, sms_gateway, dispatch_interval=hour
    ) as service:
        await produce_events(kafka.bootstrap, [received("A-9")])
        messages = await settled(service, "A-9", 1)
    assert [m["status"] for m in messages] == ["sent"]
    assert subjects(smtp_server, email_of("A-9")) == [
        "Votre candidature au master IFUNO a bien été reçue"
    ]


async def test_smtp_down_for_a_while_then_back_delivers_every_message_once(
    service: ServiceRunner, kafka, smtp_server: CapturingSmtpServer
) -> None:
    smtp_server.stop()
    applications = [f"B-{n}" for n in range(5)]
    await produce_events(kafka.bootstrap, [received(a) for a in applications])

    async def outage_seen() -> bool:
        attempts = [m for a in applications for m in await listed(service, a)]
        return any(m["last_error"] for m in attempts)

    await until(outage_seen)
    assert smtp_server.messages == []
    smtp_server.start()
    for application_id in applications:
        [message] = await settled(service, application_id, 1)
        assert message["status"] == "sent"
    recipients = sorted(r for m in smtp_server.messages for r in m.recipients)
    assert recipients == sorted(email_of(a) for a in applications)
    retried = [m for a in applications for m in await listed(service, a) if m["attempts"] > 1]
    assert retried, "at least one message met the outage"
    assert all(
        [a["outcome"] for a in m["delivery_attempts"]][-1] == "sent"
        and {a["outcome"] for a in m["delivery_attempts"][:-1]} == {"retry"}
        for m in retried
    )


async def test_a_candidate_without_sms_opt_in_gets_no_sms(
    service: ServiceRunner, kafka, sms_gateway: FakeSmsGateway
) -> None:
    await produce_events(kafka.bootstrap, [received("A-4", sms=False), received("A-5", sms=True)])
    without = await settled(service, "A-4", 1)
    with_sms = await settled(service, "A-5", 2)
    assert [m["channel"] for m in without] == ["email"]
    assert sorted(m["channel"] for m in with_sms) == ["email", "sms"]
    assert [m.to for m in sms_gateway.messages] == [phone_of("A-5")]


async def test_an_invalid_address_is_recorded_as_failed_and_blocks_nobody(
    service: ServiceRunner, kafka, smtp_server: CapturingSmtpServer
) -> None:
    smtp_server.reject("nobody@*")
    await produce_events(
        kafka.bootstrap,
        [received("A-6", email="nobody@example.org"), received("A-7")],
    )
    [failed] = await settled(service, "A-6", 1)
    [sent] = await settled(service, "A-7", 1)
    assert (failed["status"], failed["attempts"]) == ("failed", 1)
    assert "550" in failed["last_error"]
    assert sent["status"] == "sent"
    assert len(smtp_server.to(email_of("A-7"))) == 1
    records = await kafka_consume(kafka.bootstrap, Topic.NOTIFICATION.value, 2)
    outcomes = {json.loads(r.value)["subject"]: json.loads(r.value) for r in records}
    assert outcomes["A-6"]["type"] == "ifuno.notification.failed.v1"
    assert "550" in outcomes["A-6"]["data"]["error"]
    assert outcomes["A-7"]["type"] == "ifuno.notification.sent.v1"


async def test_an_incomplete_file_is_reminded_three_days_before_the_deadline_once(
    service: ServiceRunner, kafka, smtp_server: CapturingSmtpServer
) -> None:
    def tick(now: datetime) -> CloudEvent:
        return new_event(ClockAdvanced(campaign=2027, now=now), subject="2027")

    # A-11's reminder falls due between the second and the third tick: once it is
    # recorded, every tick has been applied and A-8's messages are final.
    later = DEADLINE + timedelta(days=1, hours=12)
    files = [
        received("A-8", missing=True),
        received("A-9"),
        received("A-11", missing=True, deadline=later),
    ]
    await produce_events(kafka.bootstrap, files)
    for application_id in ("A-8", "A-9", "A-11"):
        await settled(service, application_id, 1)
    await produce_events(
        kafka.bootstrap,
        [
            tick(DEADLINE - timedelta(days=4)),
            tick(DEADLINE - timedelta(days=2)),
            tick(DEADLINE - timedelta(days=1)),
        ],
    )
    await until(lambda: _has_template(service, "A-11", "incomplete_reminder"))
    messages = await settled(service, "A-8", 2)
    assert sorted(m["template"] for m in messages) == [
        "application_received",
        "incomplete_reminder",
    ]
    assert "Rappel : votre dossier de candidature est encore incomplet" in subjects(
        smtp_server, email_of("A-8")
    )
    assert [m["template"] for m in await listed(service, "A-9")] == ["application_received"]


async def _has_template(service: ServiceRunner, application_id: str, template: str) -> bool:
    return template in [m["template"] for m in await listed(service, application_id)]


async def test_an_event_read_before_the_contact_details_waits_for_them(
    service: ServiceRunner, kafka, smtp_server: CapturingSmtpServer
) -> None:
    early = event("A-10", s.Waitlisted(application_id="A-10", level="M1", rank=4))
    await produce_events(kafka.bootstrap, [early, received("A-10")])
    messages = await settled(service, "A-10", 2)
    assert sorted(m["template"] for m in messages) == ["application_received", "waitlisted"]
    assert subjects(smtp_server, email_of("A-10")) == [
        "Votre candidature au master IFUNO a bien été reçue",
        "Vous êtes sur liste complémentaire du master IFUNO",
    ]


async def test_health_readiness_metrics_and_a_staff_only_message_list(
    service: ServiceRunner, kafka
) -> None:
    await produce_events(kafka.bootstrap, [received("H-1")])
    await settled(service, "H-1", 1)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http_port}") as http:
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/ready")).status_code == 200
        metrics = (await http.get("/metrics")).text
        assert 'ifuno_notification_deliveries_total{channel="email",outcome="sent"}' in metrics
        assert (await http.get("/v1/applications/A-1/messages")).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert (await http.get("/v1/applications/A-1/messages", headers=wrong)).status_code == 401
        addresses = await http.get("/v1/applications/H-1/messages", headers=VIEWER)
        assert addresses.status_code == 403  # a viewer sees counts, never an address
        found = await http.get("/v1/applications/A-1/messages", headers=REVIEWER)
        assert (found.status_code, found.json()) == (200, [])


async def test_a_400_from_the_sms_gateway_fails_the_message_once(
    service: ServiceRunner, kafka, smtp_server: CapturingSmtpServer, sms_gateway: FakeSmsGateway
) -> None:
    sms_gateway.fail_next(1, 400)
    await produce_events(kafka.bootstrap, [received("A-12", sms=True)])
    messages = {m["channel"]: m for m in await settled(service, "A-12", 2)}
    sms = messages["sms"]
    assert (sms["status"], sms["attempts"]) == ("failed", 1)
    assert "400" in sms["last_error"] and "not retried" in sms["last_error"]
    assert messages["email"]["status"] == "sent"
    assert sms_gateway.messages == []
    records = await kafka_consume(kafka.bootstrap, Topic.NOTIFICATION.value, 2)
    failed = [json.loads(r.value) for r in records if b"failed" in r.value]
    assert [(e["data"]["channel"], e["subject"]) for e in failed] == [("sms", "A-12")]
    assert phone_of("A-12") not in failed[0]["data"]["error"]


async def test_a_gateway_without_a_token_gets_no_authorization_header(
    migrated: str, kafka, smtp_server: CapturingSmtpServer
) -> None:
    with FakeSmsGateway(token=None) as open_gateway:
        async with running(migrated, kafka.bootstrap, smtp_server, open_gateway) as runner:
            await produce_events(kafka.bootstrap, [received("A-13", sms=True)])
            messages = await settled(runner, "A-13", 2)
        assert {m["status"] for m in messages} == {"sent"}
        [sms] = open_gateway.messages
    assert sms.to == phone_of("A-13") and sms.authorization is None


@pytest.fixture
async def candidature_database(postgres: PostgresAdmin) -> AsyncIterator[str]:
    """Candidature's own database, beside notification's."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = await postgres.create_database(name)
    await upgrade_async(url, CANDIDATURE_MIGRATIONS)
    yield url
    await postgres.drop_database(name)


async def test_a_national_number_from_the_portal_is_texted_in_e164(
    service: ServiceRunner, kafka, sms_gateway: FakeSmsGateway, candidature_database: str
) -> None:
    """Portal -> candidature (normalizes `06 12 34 56 78`) -> notification -> gateway."""
    submitted = portal.ApplicationSubmitted(
        application_id="P-1",
        campaign=2027,
        level="M2",
        regime="formation_continue",
        candidate=portal.Candidate(
            candidate_id="C-P-1",
            first_name="Maëlle",
            last_name="Pérez",
            email="p-1@example.org",
            phone="06 12 34 56 78",
            sms_opt_in=True,
        ),
        employed=False,
        highest_diploma=portal.Diploma(level="bac+4", field="histoire", title="Master 1"),
        vapp=False,
        training_experience_years=2,
        documents=[],
        submitted_at=datetime(2027, 5, 3, 10, 0, tzinfo=PARIS),
    )
    settings = CandidatureSettings(
        database_url=candidature_database, kafka_bootstrap=kafka.bootstrap, http_port=0
    )
    async with ServiceRunner(candidature_definition(settings, session_timeout_ms=3000)):
        await produce_events(kafka.bootstrap, [new_event(submitted, subject="P-1")])
        messages = await settled(service, "P-1", 2)
    assert {(m["channel"], m["address"]) for m in messages} == {
        ("email", "p-1@example.org"),
        ("sms", "+33612345678"),
    }
    [sms] = sms_gateway.messages
    assert sms.to == "+33612345678"
    assert sms.text.startswith("Master IFUNO : candidature M2 enregistrée.")
    assert sms.text.endswith(" - SFC Le Mans Université")


async def test_messages_failed_after_the_retry_period_are_sent_once_an_admin_queues_them_again(
    migrated: str, kafka, smtp_server: CapturingSmtpServer
) -> None:
    settings = NotificationSettings(
        database_url=migrated,
        kafka_bootstrap=kafka.bootstrap,
        http_port=0,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        api_tokens={
            "viewer-token": "viewer",
            "reviewer-token": "reviewer",
            "admin-token": "admin",
        },
        dispatch_interval=0.05,
        retry_hours=1 / 3600,
    )
    admin = {"Authorization": "Bearer admin-token"}
    smtp_server.stop()
    async with ServiceRunner(build_definition(settings, session_timeout_ms=3000)) as service:
        await produce_events(kafka.bootstrap, [received("Q-1"), received("Q-2")])
        [first] = await settled(service, "Q-1", 1)
        [second] = await settled(service, "Q-2", 1)
        for failed in (first, second):
            assert (failed["status"], failed["expired"]) == ("failed", True)
            assert "SMTP unreachable" in failed["last_error"]
        smtp_server.start()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http_port}") as http:

            async def requeue(body: dict[str, Any], headers: dict[str, str] = admin) -> Any:
                return await http.post("/v1/messages/requeue", json=body, headers=headers)

            assert (await requeue({}, {})).status_code == 401
            assert (await requeue({}, VIEWER)).status_code == 403
            refused = await requeue({"message_ids": []})
            assert refused.status_code == 422
            assert refused.json()["detail"][0]["loc"] == ["body", "message_ids"]
            assert (await requeue({"channel": "fax"})).status_code == 422
            # One by its id, then every one whose retry period ran out (the other).
            assert (await requeue({"message_ids": [first["id"]]})).json() == {"requeued": 1}
            [sent] = await sent_again(service, "Q-1")
            assert [m["status"] for m in await listed(service, "Q-2")] == ["failed"]
            assert (await requeue({"channel": "email"})).json() == {"requeued": 1}
            await sent_again(service, "Q-2")
            assert (await requeue({})).json() == {"requeued": 0}
    assert (sent["expired"], [a["outcome"] for a in sent["delivery_attempts"]][-2:]) == (
        False,
        ["failed", "sent"],
    )
    for application_id in ("Q-1", "Q-2"):
        assert len(smtp_server.to(email_of(application_id))) == 1
    records = await kafka_consume(kafka.bootstrap, Topic.NOTIFICATION.value, 4)
    assert sorted(json.loads(r.value)["type"] for r in records) == [
        "ifuno.notification.failed.v1",
        "ifuno.notification.failed.v1",
        "ifuno.notification.sent.v1",
        "ifuno.notification.sent.v1",
    ]


async def sent_again(service: ServiceRunner, application_id: str) -> list[dict[str, Any]]:
    async with asyncio.timeout(30):
        while True:
            found = await listed(service, application_id)
            if all(m["status"] == "sent" for m in found):
                return found
            await asyncio.sleep(0.1)
