"""Notification through a real broker, PostgreSQL, SMTP server and an HTTP SMS gateway."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from ifuno_notification.config import NotificationSettings
from ifuno_notification.entrypoints.service import MIGRATIONS_DIR, build_definition
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import CloudEvent, EventData, Topic, new_event
from ifuno_shared.events import candidature as c
from ifuno_shared.events import selection as s
from ifuno_shared.events.timeline import ClockAdvanced
from ifuno_shared.local import CapturingSmtpServer, FakeSmsGateway
from ifuno_shared.persistence.migrations import upgrade_async
from ifuno_shared.runtime import ServiceRunner
from ifuno_shared.testing.kafka import kafka_consume, produce_events

pytestmark = pytest.mark.integration

DEADLINE = datetime(2027, 5, 15, 23, 59, tzinfo=PARIS)


def received(
    application_id: str, *, sms: bool, missing: bool = False, email: str | None = None
) -> CloudEvent:
    return new_event(
        c.ApplicationReceived(
            application_id=application_id,
            campaign=2027,
            round="main",
            level="M1",
            regime="formation_initiale",
            missing_documents=["diploma"] if missing else [],
            eligibility=c.Eligibility(eligible=True),
            candidate=c.Contact(
                candidate_id=f"C-{application_id}",
                first_name="Élodie",
                last_name="Brûlé",
                email=email or f"{application_id.lower()}@example.org",
                phone="+33611223344",
                sms_opt_in=sms,
            ),
            submitted_at=datetime(2027, 5, 2, 10, 0, tzinfo=PARIS),
            submission_deadline=DEADLINE,
            complete=not missing,
        ),
        subject=application_id,
    )


def event(data: EventData, application_id: str) -> CloudEvent:
    return new_event(data, subject=application_id)


@pytest.fixture
async def migrated(database_url: str) -> str:
    await upgrade_async(database_url, MIGRATIONS_DIR)
    return database_url


def settings_for(database_url: str, bootstrap: str, smtp: CapturingSmtpServer, sms: FakeSmsGateway):
    return NotificationSettings(
        database_url=database_url,
        kafka_bootstrap=bootstrap,
        http_port=0,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        sms_gateway_url=sms.url,
        sms_gateway_token=sms.token,
        api_tokens={"viewer-token": "viewer"},
        dispatch_interval=0.05,
    )


@pytest.fixture
async def service(
    migrated: str, kafka, smtp_server: CapturingSmtpServer, sms_gateway: FakeSmsGateway
) -> AsyncIterator[ServiceRunner]:
    definition = build_definition(
        settings_for(migrated, kafka.bootstrap, smtp_server, sms_gateway), session_timeout_ms=3000
    )
    async with ServiceRunner(definition) as runner:
        yield runner


async def wait_until(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


def subjects(smtp: CapturingSmtpServer, address: str) -> list[str]:
    return [str(m["Subject"]) for m in smtp.to(address)]


async def test_each_step_sends_the_right_message_to_the_right_address(
    service: ServiceRunner, kafka, smtp_server: CapturingSmtpServer, sms_gateway: FakeSmsGateway
) -> None:
    a = "A-1"
    path = [
        received(a, sms=True, missing=True),
        event(c.ApplicationCompleted(application_id=a), a),
        event(
            s.InterviewScheduled(
                application_id=a,
                starts_at=datetime(2027, 6, 3, 9, 30, tzinfo=PARIS),
                ends_at=datetime(2027, 6, 3, 10, 0, tzinfo=PARIS),
                video_url="https://visio.univ-lemans.fr/ifuno-42",
            ),
            a,
        ),
        event(s.Waitlisted(application_id=a, level="M1", rank=2), a),
        event(s.WaitlistRankChanged(application_id=a, level="M1", rank=1), a),
        event(
            s.Admitted(
                application_id=a,
                level="M1",
                offer_deadline=datetime(2027, 7, 5, 23, 59, tzinfo=PARIS),
                from_waitlist=True,
            ),
            a,
        ),
        event(s.OfferAccepted(application_id=a), a),
    ]
    await produce_events(kafka.bootstrap, path)
    await wait_until(lambda: len(smtp_server.to("a-1@example.org")) == 7)
    # Candidature and selection are two topics, read each in its own order.
    assert sorted(subjects(smtp_server, "a-1@example.org")) == sorted(
        [
            "Votre candidature au master IFUNO a bien été reçue",
            "Votre dossier de candidature est complet",
            "Convocation à l'entretien de sélection du master IFUNO",
            "Vous êtes sur liste complémentaire du master IFUNO",
            "Votre rang sur la liste complémentaire a changé",
            "Une place s'est libérée : vous êtes admis(e) au master IFUNO",
            "Confirmation de votre inscription au master IFUNO",
        ]
    )
    interview = next(
        m for m in smtp_server.to("a-1@example.org") if str(m["Subject"]).startswith("Convocation")
    )
    text = interview.get_body(("plain",)).get_content()
    assert "jeudi 3 juin 2027 de 9 h 30 à 10 h 00" in text
    assert "https://visio.univ-lemans.fr/ifuno-42" in text
    assert "scola-let@univ-lemans.fr" in text
    assert interview.get_body(("html",)) is not None
    await wait_until(lambda: len(sms_gateway.messages) == 7)
    assert {m.to for m in sms_gateway.messages} == {"+33611223344"}
    sent = await kafka_consume(kafka.bootstrap, Topic.NOTIFICATION.value, 14)
    channels = sorted(json.loads(r.value)["data"]["channel"] for r in sent)
    assert channels == ["email"] * 7 + ["sms"] * 7
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.http_port}") as http:
        listed = await http.get(
            f"/v1/applications/{a}/messages", headers={"Authorization": "Bearer viewer-token"}
        )
        assert listed.status_code == 200
        assert {m["status"] for m in listed.json()} == {"sent"}
        assert (await http.get(f"/v1/applications/{a}/messages")).status_code == 401


async def test_the_same_event_delivered_twice_sends_one_email(
    service: ServiceRunner, kafka, smtp_server: CapturingSmtpServer
) -> None:
    first = received("A-2", sms=False)
    await produce_events(kafka.bootstrap, [first, first])
    await produce_events(kafka.bootstrap, [received("A-3", sms=False)])
    await wait_until(lambda: len(smtp_server.to("a-3@example.org")) == 1)
    await asyncio.sleep(0.5)
    assert len(smtp_server.to("a-2@example.org")) == 1


async def test_smtp_down_for_a_while_then_back_delivers_every_message_once(
    service: ServiceRunner, kafka, smtp_server: CapturingSmtpServer
) -> None:
    smtp_server.stop()
    await produce_events(kafka.bootstrap, [received(f"B-{n}", sms=False) for n in range(5)])
    await asyncio.sleep(2.0)
    assert smtp_server.messages == []
    smtp_server.start()
    await wait_until(lambda: len(smtp_server.messages) >= 5, timeout=60)
    await asyncio.sleep(1.0)
    recipients = sorted(r for m in smtp_server.messages for r in m.recipients)
    assert recipients == [f"b-{n}@example.org" for n in range(5)]


async def test_a_candidate_without_sms_opt_in_gets_no_sms(
    service: ServiceRunner, kafka, smtp_server: CapturingSmtpServer, sms_gateway: FakeSmsGateway
) -> None:
    await produce_events(kafka.bootstrap, [received("A-4", sms=False), received("A-5", sms=True)])
    await wait_until(lambda: len(smtp_server.messages) == 2)
    await wait_until(lambda: len(sms_gateway.messages) == 1)
    await asyncio.sleep(0.5)
    assert len(sms_gateway.messages) == 1


async def test_an_invalid_address_is_recorded_as_failed_and_blocks_nobody(
    service: ServiceRunner, kafka, smtp_server: CapturingSmtpServer
) -> None:
    smtp_server.reject("nobody@*")
    await produce_events(
        kafka.bootstrap,
        [received("A-6", sms=False, email="nobody@example.org"), received("A-7", sms=False)],
    )
    await wait_until(lambda: len(smtp_server.to("a-7@example.org")) == 1)
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

    await produce_events(
        kafka.bootstrap,
        [
            received("A-8", sms=False, missing=True),
            received("A-9", sms=False),
        ],
    )
    await wait_until(lambda: len(smtp_server.messages) == 2)
    await produce_events(
        kafka.bootstrap,
        [
            tick(DEADLINE - timedelta(days=4)),
            tick(DEADLINE - timedelta(days=2)),
            tick(DEADLINE - timedelta(days=1)),
        ],
    )
    await wait_until(lambda: len(smtp_server.to("a-8@example.org")) == 2)
    await asyncio.sleep(0.5)
    assert subjects(smtp_server, "a-8@example.org")[1].startswith(
        "Votre dossier de candidature est incomplet"
    )
    assert len(smtp_server.to("a-9@example.org")) == 1


async def test_an_event_read_before_the_contact_details_waits_for_them(
    service: ServiceRunner, kafka, smtp_server: CapturingSmtpServer
) -> None:
    early = event(s.Waitlisted(application_id="A-10", level="M1", rank=4), "A-10")
    await produce_events(kafka.bootstrap, [early])
    await asyncio.sleep(1.5)
    assert smtp_server.messages == []
    await produce_events(kafka.bootstrap, [received("A-10", sms=False)])
    await wait_until(lambda: len(smtp_server.to("a-10@example.org")) == 2)
    assert sorted(subjects(smtp_server, "a-10@example.org")) == [
        "Votre candidature au master IFUNO a bien été reçue",
        "Vous êtes sur liste complémentaire du master IFUNO",
    ]
    dead = await kafka_consume(kafka.bootstrap, Topic.NOTIFICATION.value, 2)
    assert {json.loads(r.value)["type"] for r in dead} == {"ifuno.notification.sent.v1"}
