"""The candidature service through a real broker and a real PostgreSQL.

Each test names its applications with a unique prefix and reads back only the
events about them, so the tests hold on a shared broker and with topics of
several partitions (only one application's events are ordered).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from ifuno_candidature.adapters.tables import round_window
from ifuno_candidature.config import CandidatureSettings
from ifuno_candidature.entrypoints.service import MIGRATIONS_DIR, build_definition
from ifuno_shared.calendar import PARIS, default_calendar
from ifuno_shared.events import CloudEvent, Phase, Topic, encode_event, new_event
from ifuno_shared.events.portal import (
    ApplicationSubmitted,
    ApplicationWithdrawn,
    Candidate,
    Diploma,
    Document,
    DocumentUploaded,
)
from ifuno_shared.events.timeline import ClockAdvanced, PhaseStarted
from ifuno_shared.persistence.migrations import upgrade_async
from ifuno_shared.runtime import ServiceRunner
from ifuno_tools.testing.kafka import Record, kafka_produce, produce_events
from sqlalchemy import select

pytestmark = pytest.mark.integration

DEADLINE = default_calendar(2027).main_submissions_close
TOKENS = {
    "admin-token": "y.chen:admin",
    "viewer-token": "viewer",
    "reviewer-token": "reviewer",
}
RECEIVED = "ifuno.candidature.application_received.v1"
COMPLETED = "ifuno.candidature.application_completed.v1"
REFUSED = "ifuno.candidature.application_refused.v1"
WITHDRAWN = "ifuno.candidature.application_withdrawn.v1"
REJECTED = "ifuno.candidature.document_rejected.v1"
OVERRIDDEN = "ifuno.candidature.eligibility_overridden.v1"


def document(kind: str, number: int, content_type: str = "application/pdf") -> Document:
    return Document(
        kind=kind,
        document_id=f"D-{number}",
        filename=f"{kind}.pdf",
        content_type=content_type,
        size_bytes=5000,
        sha256="2" * 64,
    )


def submitted(
    application_id: str,
    kinds: tuple[str, ...] = ("cv", "cover_letter", "diploma"),
    at: datetime = datetime(2027, 5, 3, 10, 0, tzinfo=PARIS),
    diploma_level: str = "bac+3",
    candidate_id: str | None = None,
) -> CloudEvent:
    return new_event(
        ApplicationSubmitted(
            application_id=application_id,
            campaign=2027,
            level="M1",
            regime="formation_continue",
            candidate=Candidate(
                candidate_id=candidate_id or f"C-{application_id}",
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


def upload(application_id: str, doc: Document) -> CloudEvent:
    return new_event(
        DocumentUploaded(application_id=application_id, document=doc), subject=application_id
    )


async def read_topic(
    bootstrap: str, topic: str, done: Callable[[list[Record]], bool], keep: Callable[[Record], bool]
) -> list[Record]:
    """Read `topic` from the beginning, keeping matching records, until `done` says so."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    kept: list[Record] = []
    try:
        async with asyncio.timeout(30):
            while not done(kept):
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    for r in batch:
                        headers = dict(r.headers)
                        record = Record(r.topic, r.partition, r.offset, r.key, r.value, headers)
                        if keep(record):
                            kept.append(record)
    except TimeoutError:
        raise AssertionError(f"only {len(kept)} matching records on {topic}") from None
    finally:
        await consumer.stop()
    return kept


class Service:
    def __init__(self, runner: ServiceRunner, bootstrap: str, prefix: str) -> None:
        assert runner.context is not None
        self.runner = runner
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.engine = runner.context.engine
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.http_port}")

    def id(self, name: str) -> str:
        """An application id unique to this test."""
        return f"{self.prefix}-{name}"

    async def events(self, until: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
        """This test's candidature events, read until `until` holds for them."""

        def decoded(records: list[Record]) -> list[dict[str, Any]]:
            return [json.loads(r.value or b"") for r in records]

        records = await read_topic(
            self.bootstrap,
            Topic.CANDIDATURE.value,
            lambda kept: until(decoded(kept)),
            lambda r: (r.key or b"").decode().startswith(self.prefix),
        )
        return decoded(records)

    async def events_of(self, application_id: str, count: int) -> list[dict[str, Any]]:
        events = await self.events(
            lambda found: sum(e["subject"] == application_id for e in found) >= count
        )
        return [e for e in events if e["subject"] == application_id]


@pytest.fixture
async def service(database_url: str, kafka: Any, unique: str) -> AsyncIterator[Service]:
    await upgrade_async(database_url, MIGRATIONS_DIR)
    settings = CandidatureSettings(
        database_url=database_url,
        kafka_bootstrap=kafka.bootstrap,
        http_port=0,
        api_tokens=TOKENS,
    )
    async with ServiceRunner(build_definition(settings, session_timeout_ms=3000)) as runner:
        await asyncio.wait_for(runner.wait_until_consuming(), 30)
        service = Service(runner, kafka.bootstrap, f"T{unique}")
        yield service
        await service.http.aclose()


async def test_a_complete_portal_application_is_received_and_completed(service: Service) -> None:
    app = service.id("1")
    await produce_events(service.bootstrap, [submitted(app)])
    received, completed = await service.events_of(app, 2)
    assert (received["type"], completed["type"]) == (RECEIVED, COMPLETED)
    assert received["data"]["missing_documents"] == []
    assert received["data"]["eligibility"] == {"eligible": True, "reasons": []}
    assert received["data"]["round"] == "main"
    assert received["data"]["candidate"]["email"] == f"{app.lower()}@example.org"
    assert completed["data"]["completed_at"] == received["data"]["submitted_at"]


async def test_a_late_submission_is_refused_as_campaign_closed(service: Service) -> None:
    app = service.id("2")
    await produce_events(service.bootstrap, [submitted(app, at=DEADLINE + timedelta(minutes=1))])
    [refused] = await service.events_of(app, 1)
    assert refused["type"] == REFUSED
    assert refused["data"]["reason"] == "campaign_closed"
    assert refused["data"]["candidate"]["candidate_id"] == f"C-{app}"


async def test_an_incomplete_file_is_completed_by_a_later_upload(service: Service) -> None:
    app = service.id("3")
    await produce_events(
        service.bootstrap,
        [submitted(app, kinds=("cv", "cover_letter")), upload(app, document("diploma", 9))],
    )
    received, completed = await service.events_of(app, 2)
    assert received["data"]["missing_documents"] == ["diploma"]
    assert completed["type"] == COMPLETED


async def test_an_incomplete_file_is_closed_at_the_deadline(service: Service) -> None:
    app = service.id("4")
    after_deadline = ClockAdvanced(campaign=2027, now=DEADLINE + timedelta(minutes=1))
    await produce_events(
        service.bootstrap,
        [submitted(app, kinds=("cv",)), new_event(after_deadline, subject="2027")],
    )
    received, refused = await service.events_of(app, 2)
    assert received["type"] == RECEIVED
    assert refused["type"] == REFUSED
    assert refused["data"]["reason"] == "incomplete_at_deadline"
    assert refused["data"]["missing_documents"] == ["cover_letter", "diploma"]


async def test_a_withdrawal_is_published(service: Service) -> None:
    app = service.id("5")
    withdrawal = ApplicationWithdrawn(application_id=app, reason="autre formation")
    await produce_events(service.bootstrap, [submitted(app), new_event(withdrawal, subject=app)])
    events = await service.events_of(app, 3)
    assert [e["type"] for e in events] == [RECEIVED, COMPLETED, WITHDRAWN]
    assert events[2]["data"]["reason"] == "autre formation"


async def test_a_portal_event_delivered_twice_is_applied_once(service: Service) -> None:
    """A rejected upload publishes a `document_rejected` each time it is applied."""
    app = service.id("6")
    first = submitted(app, kinds=("cv",))
    bad = upload(app, document("cover_letter", 7, "application/zip"))
    end = new_event(ApplicationWithdrawn(application_id=app, reason=None), subject=app)
    await produce_events(service.bootstrap, [first, bad, bad, first, end])
    events = await service.events_of(app, 3)
    assert [e["type"] for e in events] == [RECEIVED, REJECTED, WITHDRAWN]


async def test_malformed_portal_events_are_dead_lettered_while_the_rest_flow(
    service: Service,
) -> None:
    app = service.id("8")
    bad_level = json.loads(encode_event(submitted(app)))
    bad_level["data"]["level"] = "M3"
    unknown = json.loads(encode_event(submitted(app))) | {"type": "ifuno.portal.nope.v1"}
    key = app.encode()
    await kafka_produce(
        service.bootstrap,
        Topic.PORTAL.value,
        [
            (key, b"not json at all"),
            (key, json.dumps(bad_level).encode()),
            (key, json.dumps(unknown).encode()),
            (key, encode_event(submitted(app))),
        ],
    )
    events = await service.events_of(app, 2)
    assert [e["type"] for e in events] == [RECEIVED, COMPLETED]
    dead = await read_topic(
        service.bootstrap,
        Topic.DEADLETTER.value,
        lambda kept: len(kept) >= 3,
        lambda r: r.key == key,
    )
    reasons = [r.headers["x-error"].decode() for r in dead]
    assert reasons[0].startswith("not JSON")
    assert reasons[1].startswith("data.level:")
    assert "unknown event type" in reasons[2]
    assert {r.headers["x-consumer"] for r in dead} == {b"candidature"}
    assert dead[0].value == b"not json at all"


async def test_staff_read_and_override_with_token_roles(service: Service) -> None:
    app = service.id("9")
    await produce_events(service.bootstrap, [submitted(app, diploma_level="bac+2")])
    received, _ = await service.events_of(app, 2)
    assert received["data"]["eligibility"]["reasons"] == ["m1_requires_bac3_or_vapp"]
    viewer = {"Authorization": "Bearer viewer-token"}
    reviewer = {"Authorization": "Bearer reviewer-token"}
    admin = {"Authorization": "Bearer admin-token"}
    assert (await service.http.get("/v1/applications")).status_code == 401
    wrong = {"Authorization": "Bearer wrong"}
    assert (await service.http.get("/v1/applications", headers=wrong)).status_code == 401
    for path in ("/v1/applications", f"/v1/applications/{app}"):
        refused = await service.http.get(path, headers=viewer)
        assert refused.json() == {"detail": "this role may not do this"}, path
        assert refused.status_code == 403, path
    listing = await service.http.get(
        "/v1/applications", params={"campaign": 2027, "status": "complete"}, headers=reviewer
    )
    assert [a["application_id"] for a in listing.json()] == [app]
    bad_filter = await service.http.get(
        "/v1/applications", params={"status": "lost"}, headers=reviewer
    )
    assert bad_filter.status_code == 422 and bad_filter.json()["detail"][0]["loc"] == [
        "query",
        "status",
    ]
    detail = (await service.http.get(f"/v1/applications/{app}", headers=reviewer)).json()
    assert [d["kind"] for d in detail["documents"]] == ["cv", "cover_letter", "diploma"]
    path = f"/v1/applications/{app}/eligibility-override"
    # The body's `by` (deprecated) is ignored: the override is the token's (y.chen's).
    body = {"eligible": True, "by": "someone.else", "note": "VAPP en cours"}
    assert (await service.http.post(path, json=body, headers=viewer)).status_code == 403
    invalid = await service.http.post(path, json={"note": "?"}, headers=admin)
    assert invalid.status_code == 422 and invalid.json()["detail"][0]["loc"] == [
        "body",
        "eligible",
    ]
    unknown = await service.http.post(
        "/v1/applications/nope/eligibility-override", json=body, headers=admin
    )
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "no application nope"})
    overridden = await service.http.post(path, json=body, headers=admin)
    assert overridden.status_code == 200 and overridden.json()["eligible"] is True
    assert overridden.json()["eligibility_overridden_by"] == "y.chen"
    events = await service.events_of(app, 3)
    assert events[2]["type"] == OVERRIDDEN
    assert events[2]["data"]["overridden_by"] == "y.chen"
    without_by = await service.http.post(path, json={"eligible": True}, headers=admin)
    assert without_by.json()["eligibility_overridden_by"] == "y.chen"
    assert (await service.http.get("/ready")).json()["status"] == "ready"


async def test_a_deadline_extended_by_the_timeline_admits_a_file_late_by_default(
    service: Service,
) -> None:
    app = service.id("10")
    extended = DEADLINE + timedelta(days=5)
    announced = PhaseStarted(
        campaign=2027,
        phase=Phase.MAIN_SUBMISSIONS_OPEN,
        starts_at=default_calendar(2027).main_submissions_open,
        ends_at=extended,
    )
    await produce_events(service.bootstrap, [new_event(announced, subject="2027")])
    query = select(round_window.c.closes_at).where(round_window.c.round == "main")
    async with asyncio.timeout(30):
        while True:
            async with service.engine.connect() as connection:
                if await connection.scalar(query) == extended:
                    break
            await asyncio.sleep(0.1)
    await produce_events(service.bootstrap, [submitted(app, at=DEADLINE + timedelta(days=2))])
    received, _ = await service.events_of(app, 2)
    assert received["type"] == RECEIVED
    assert datetime.fromisoformat(received["data"]["submission_deadline"]) == extended


async def test_a_second_live_application_of_a_candidate_is_refused_as_duplicate(
    service: Service,
) -> None:
    """The two may reach the service in either order: one is received, the other refused."""
    first, second = service.id("11"), service.id("12")
    candidate = f"C-{service.prefix}"
    await produce_events(
        service.bootstrap,
        [submitted(first, candidate_id=candidate), submitted(second, candidate_id=candidate)],
    )
    events = await service.events(lambda found: len(found) >= 3)
    outcomes = {e["subject"]: e for e in events if e["type"] in (RECEIVED, REFUSED)}
    assert set(outcomes) == {first, second}
    assert sorted(e["type"] for e in outcomes.values()) == [RECEIVED, REFUSED]
    [refused] = [e for e in outcomes.values() if e["type"] == REFUSED]
    assert refused["data"]["reason"] == "duplicate_application"
