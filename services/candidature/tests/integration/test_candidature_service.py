"""The candidature service through a real broker and a real PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from ifuno_candidature.config import CandidatureSettings
from ifuno_candidature.entrypoints.service import MIGRATIONS_DIR, build_definition
from ifuno_shared.calendar import PARIS, default_calendar
from ifuno_shared.events import CloudEvent, Topic, encode_event, new_event
from ifuno_shared.events.portal import (
    ApplicationSubmitted,
    ApplicationWithdrawn,
    Candidate,
    Diploma,
    Document,
    DocumentUploaded,
)
from ifuno_shared.events.timeline import ClockAdvanced
from ifuno_shared.persistence.migrations import upgrade_async
from ifuno_shared.runtime import ServiceRunner
from ifuno_shared.testing.kafka import kafka_consume, kafka_produce, produce_events

pytestmark = pytest.mark.integration

DEADLINE = default_calendar(2027).main_submissions_close
TOKENS = {"admin-token": "admin", "viewer-token": "viewer", "reviewer-token": "reviewer"}


def document(kind: str, number: int) -> Document:
    return Document(
        kind=kind,
        document_id=f"D-{number}",
        filename=f"{kind}.pdf",
        content_type="application/pdf",
        size_bytes=5000,
        sha256="2" * 64,
    )


def submitted(
    application_id: str,
    kinds: tuple[str, ...] = ("cv", "cover_letter", "diploma"),
    at: datetime = datetime(2027, 5, 3, 10, 0, tzinfo=PARIS),
    diploma_level: str = "bac+3",
) -> CloudEvent:
    return new_event(
        ApplicationSubmitted(
            application_id=application_id,
            campaign=2027,
            level="M1",
            regime="formation_continue",
            candidate=Candidate(
                candidate_id=f"C-{application_id}",
                first_name="Gaëlle",
                last_name="Hervé",
                email=f"{application_id.lower()}@example.org",
                sms_opt_in=False,
            ),
            employed=False,
            highest_diploma=Diploma(level=diploma_level, field="gestion", title="Diplôme"),
            vapp=False,
            training_experience_years=2,
            documents=[document(kind, n) for n, kind in enumerate(kinds)],
            submitted_at=at,
        ),
        subject=application_id,
    )


class Service:
    def __init__(self, runner: ServiceRunner, bootstrap: str) -> None:
        self.runner = runner
        self.bootstrap = bootstrap
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.http_port}")

    async def events_out(self, count: int) -> list[dict]:
        records = await kafka_consume(self.bootstrap, Topic.CANDIDATURE.value, count)
        return [json.loads(r.value) for r in records if r.value]

    async def types_for(self, application_id: str, count: int) -> list[str]:
        events = await self.events_out(count)
        return [e["type"].split(".")[2] for e in events if e["subject"] == application_id]


@pytest.fixture
async def service(database_url: str, kafka) -> AsyncIterator[Service]:
    await upgrade_async(database_url, MIGRATIONS_DIR)
    settings = CandidatureSettings(
        database_url=database_url,
        kafka_bootstrap=kafka.bootstrap,
        http_port=0,
        api_tokens=TOKENS,
    )
    async with ServiceRunner(build_definition(settings, session_timeout_ms=3000)) as runner:
        service = Service(runner, kafka.bootstrap)
        yield service
        await service.http.aclose()


async def test_a_complete_portal_application_is_received_and_completed(service: Service) -> None:
    await produce_events(service.bootstrap, [submitted("A-1")])
    events = await service.events_out(2)
    assert [e["type"] for e in events] == [
        "ifuno.candidature.application_received.v1",
        "ifuno.candidature.application_completed.v1",
    ]
    received = events[0]
    assert received["subject"] == "A-1"
    assert received["data"]["missing_documents"] == []
    assert received["data"]["eligibility"] == {"eligible": True, "reasons": []}
    assert received["data"]["round"] == "main"
    assert received["data"]["candidate"]["email"] == "a-1@example.org"


async def test_a_late_submission_is_refused_as_campaign_closed(service: Service) -> None:
    await produce_events(service.bootstrap, [submitted("A-2", at=DEADLINE + timedelta(minutes=1))])
    [refused] = await service.events_out(1)
    assert refused["type"] == "ifuno.candidature.application_refused.v1"
    assert refused["data"]["reason"] == "campaign_closed"


async def test_an_incomplete_file_is_completed_by_a_later_upload(service: Service) -> None:
    upload = DocumentUploaded(application_id="A-3", document=document("diploma", 9))
    await produce_events(
        service.bootstrap,
        [submitted("A-3", kinds=("cv", "cover_letter")), new_event(upload, subject="A-3")],
    )
    events = await service.events_out(2)
    assert events[0]["data"]["missing_documents"] == ["diploma"]
    assert events[1]["type"] == "ifuno.candidature.application_completed.v1"


async def test_an_incomplete_file_is_closed_at_the_deadline(service: Service) -> None:
    after_deadline = ClockAdvanced(campaign=2027, now=DEADLINE + timedelta(minutes=1))
    await produce_events(
        service.bootstrap,
        [submitted("A-4", kinds=("cv",)), new_event(after_deadline, subject="2027")],
    )
    events = await service.events_out(2)
    assert events[1]["type"] == "ifuno.candidature.application_refused.v1"
    assert events[1]["data"]["reason"] == "incomplete_at_deadline"
    assert events[1]["data"]["missing_documents"] == ["cover_letter", "diploma"]


async def test_a_withdrawal_is_published(service: Service) -> None:
    withdrawal = ApplicationWithdrawn(application_id="A-5", reason="autre formation")
    await produce_events(
        service.bootstrap, [submitted("A-5"), new_event(withdrawal, subject="A-5")]
    )
    events = await service.events_out(3)
    assert events[2]["type"] == "ifuno.candidature.application_withdrawn.v1"


async def test_a_portal_event_delivered_twice_is_applied_once(service: Service) -> None:
    event = submitted("A-6", kinds=("cv",))
    upload = new_event(
        DocumentUploaded(application_id="A-6", document=document("cover_letter", 7)), subject="A-6"
    )
    await produce_events(service.bootstrap, [event, upload, upload, event])
    marker = submitted("A-7")
    await produce_events(service.bootstrap, [marker])
    events = await service.events_out(3)
    assert sorted(await service.types_for("A-6", len(events))) == ["application_received"]
    assert sorted(e["subject"] for e in events) == ["A-6", "A-7", "A-7"]


async def test_malformed_portal_events_are_dead_lettered_while_the_rest_flow(
    service: Service,
) -> None:
    bad_level = json.loads(encode_event(submitted("A-8")))
    bad_level["data"]["level"] = "M3"
    unknown = json.loads(encode_event(submitted("A-8"))) | {"type": "ifuno.portal.nope.v1"}
    key = b"A-8"
    await kafka_produce(
        service.bootstrap,
        Topic.PORTAL.value,
        [
            (key, b"not json at all"),
            (key, json.dumps(bad_level).encode()),
            (key, json.dumps(unknown).encode()),
            (key, encode_event(submitted("A-8"))),
        ],
    )
    events = await service.events_out(2)
    assert [e["subject"] for e in events] == ["A-8", "A-8"]
    dead = await kafka_consume(service.bootstrap, Topic.DEADLETTER.value, 3)
    reasons = [r.headers["x-error"].decode() for r in dead]
    assert reasons[0].startswith("not JSON")
    assert reasons[1].startswith("data.level:")
    assert "unknown event type" in reasons[2]
    assert {r.headers["x-consumer"] for r in dead} == {b"candidature"}


async def test_staff_read_and_override_with_token_roles(service: Service) -> None:
    await produce_events(service.bootstrap, [submitted("A-9", diploma_level="bac+2")])
    events = await service.events_out(2)
    assert events[0]["data"]["eligibility"]["reasons"] == ["m1_requires_bac3_or_vapp"]
    viewer = {"Authorization": "Bearer viewer-token"}
    admin = {"Authorization": "Bearer admin-token"}
    assert (await service.http.get("/v1/applications")).status_code == 401
    assert (
        await service.http.get("/v1/applications", headers={"Authorization": "Bearer wrong"})
    ).status_code == 401
    listing = await service.http.get(
        "/v1/applications", params={"campaign": 2027, "status": "complete"}, headers=viewer
    )
    assert [a["application_id"] for a in listing.json()] == ["A-9"]
    detail = (await service.http.get("/v1/applications/A-9", headers=viewer)).json()
    assert [d["kind"] for d in detail["documents"]] == ["cv", "cover_letter", "diploma"]
    path = "/v1/applications/A-9/eligibility-override"
    body = {"eligible": True, "by": "y.chen", "note": "VAPP en cours"}
    assert (await service.http.post(path, json=body, headers=viewer)).status_code == 403
    invalid = await service.http.post(path, json={"eligible": True}, headers=admin)
    assert invalid.status_code == 422 and invalid.json()["detail"][0]["loc"] == ["body", "by"]
    assert (
        await service.http.post(
            "/v1/applications/nope/eligibility-override", json=body, headers=admin
        )
    ).status_code == 404
    overridden = await service.http.post(path, json=body, headers=admin)
    assert overridden.status_code == 200 and overridden.json()["eligible"] is True
    events = await service.events_out(3)
    assert events[2]["type"] == "ifuno.candidature.eligibility_overridden.v1"
    assert (await service.http.get("/ready")).json()["status"] == "ready"
