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
from ifuno_candidature.adapters.tables import application, complementary_level, round_window
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
from ifuno_shared.events.selection import ComplementaryRoundClosed, ComplementaryRoundOpened
from ifuno_shared.events.timeline import CalendarChanged, ClockAdvanced, PhaseStarted, PhaseWindow
from ifuno_shared.persistence.migrations import upgrade_async
from ifuno_shared.persistence.tables import outbox_table, platform_clock_table
from ifuno_shared.runtime import ServiceRunner
from ifuno_tools.testing.kafka import Record, kafka_produce, kafka_read_until, produce_events
from sqlalchemy import Select, func, select

pytestmark = pytest.mark.integration

DEADLINE = default_calendar(2027).main_submissions_close
MIDNIGHT = DEADLINE + timedelta(minutes=1)  # the deadline tick: 16 May, 00:00
CLOSING = MIDNIGHT + timedelta(minutes=10)  # the grace period over
TOKENS = {
    "admin-token": "y.chen:admin",
    "viewer-token": "viewer",
    "reviewer-token": "reviewer",
}
ADMIN = {"Authorization": "Bearer admin-token"}
VIEWER = {"Authorization": "Bearer viewer-token"}
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
    phone: str | None = None,
    vapp: bool = False,
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
                phone=phone,
                sms_opt_in=phone is not None,
            ),
            employed=False,
            highest_diploma=Diploma(level=diploma_level, field="gestion", title="Diplôme"),
            vapp=vapp,
            training_experience_years=2,
            documents=[document(kind, n) for n, kind in enumerate(kinds)],
            submitted_at=at,
        ),
        subject=application_id,
    )


def upload(
    application_id: str,
    doc: Document,
    uploaded_at: datetime = datetime(2027, 5, 4, 18, 0, tzinfo=PARIS),
) -> CloudEvent:
    data = DocumentUploaded(application_id=application_id, document=doc, uploaded_at=uploaded_at)
    return new_event(data, subject=application_id)


def tick(now: datetime) -> CloudEvent:
    return new_event(ClockAdvanced(campaign=2027, now=now), subject="2027")


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

        records = await kafka_read_until(
            self.bootstrap,
            Topic.CANDIDATURE.value,
            lambda kept: until(decoded(kept)),
            lambda r: (r.key or b"").decode().startswith(self.prefix),
        )
        return decoded(records)

    async def until(self, query: Select[Any], expected: object) -> None:
        """Wait until the service's database answers `query` with `expected`."""
        async with asyncio.timeout(30):
            while True:
                async with self.engine.connect() as connection:
                    if await connection.scalar(query) == expected:
                        return
                await asyncio.sleep(0.1)

    async def clock_at(self, now: datetime) -> None:
        await self.until(select(platform_clock_table.c.now), now)

    async def status(self, application_id: str) -> str | None:
        query = select(application.c.status).where(application.c.application_id == application_id)
        async with self.engine.connect() as connection:
            return await connection.scalar(query)

    async def contact_records(self, application_id: str, count: int) -> list[Record]:
        """The application's records on the contacts topic (events, then tombstones)."""
        return await kafka_read_until(
            self.bootstrap,
            Topic.CONTACTS.value,
            lambda kept: len(kept) >= count,
            lambda r: r.key == application_id.encode(),
        )

    async def contact_of(self, application_id: str) -> dict[str, Any]:
        [record] = await self.contact_records(application_id, 1)
        contact: dict[str, Any] = json.loads(record.value or b"")["data"]["candidate"]
        return contact

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
    assert received["data"]["candidate"] is None  # on the contacts topic only
    assert (await service.contact_of(app))["email"] == f"{app.lower()}@example.org"
    assert completed["data"]["completed_at"] == received["data"]["submitted_at"]


async def test_a_late_submission_is_refused_as_campaign_closed(service: Service) -> None:
    app = service.id("2")
    await produce_events(service.bootstrap, [submitted(app, at=DEADLINE + timedelta(minutes=1))])
    [refused] = await service.events_of(app, 1)
    assert refused["type"] == REFUSED
    assert refused["data"]["reason"] == "campaign_closed"
    assert refused["data"]["candidate"] is None
    assert (await service.contact_of(app))["candidate_id"] == f"C-{app}"


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
    await produce_events(service.bootstrap, [submitted(app, kinds=("cv",)), tick(CLOSING)])
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
    dead = await kafka_read_until(
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
    nul = await service.http.get("/v1/applications", params={"name": "ab\x00c"}, headers=reviewer)
    assert nul.status_code == 422 and nul.json()["detail"][0]["loc"] == ["query", "name"]
    search = "/v1/applications/search"
    found = await service.http.post(search, json={"name": "hervé", "limit": 1000}, headers=reviewer)
    assert found.status_code == 200 and app in [a["application_id"] for a in found.json()]
    assert (
        await service.http.post(search, json={"name": "hervé"}, headers=viewer)
    ).status_code == 403
    for body, field in (
        ({"name": "ab\x00c"}, "name"),
        ({"name": "x"}, "name"),
        ({"name": "ab", "q": 1}, "q"),
    ):
        refused = await service.http.post(search, json=body, headers=reviewer)
        assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", field]
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
    await service.until(
        select(round_window.c.closes_at).where(round_window.c.round == "main"), extended
    )
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


async def test_a_document_uploaded_at_2358_and_read_after_the_deadline_tick_completes_the_file(
    service: Service,
) -> None:
    app = service.id("13")
    await produce_events(service.bootstrap, [submitted(app, kinds=("cv", "cover_letter"))])
    await produce_events(service.bootstrap, [tick(MIDNIGHT)])
    await service.clock_at(MIDNIGHT)
    at_2358 = datetime(2027, 5, 15, 23, 58, tzinfo=PARIS)
    await produce_events(service.bootstrap, [upload(app, document("diploma", 9), at_2358)])
    received, completed = await service.events_of(app, 2)
    assert (received["type"], completed["type"]) == (RECEIVED, COMPLETED)
    assert datetime.fromisoformat(completed["data"]["completed_at"]) == at_2358
    await produce_events(service.bootstrap, [tick(CLOSING)])
    await service.clock_at(CLOSING)
    assert await service.status(app) == "complete"


def calendar(**overrides: datetime) -> CloudEvent:
    dates = default_calendar(2027).with_overrides(overrides)
    phases = [PhaseWindow(phase=p, starts_at=s, ends_at=e) for p, s, e in dates.phases()]
    return new_event(CalendarChanged(campaign=2027, phases=phases), subject="2027")


async def test_a_deadline_extended_by_a_calendar_override_is_applied(service: Service) -> None:
    waiting, late_by_default = service.id("14"), service.id("15")
    extended = datetime(2027, 5, 22, 23, 59, tzinfo=PARIS)
    await produce_events(service.bootstrap, [submitted(waiting, kinds=("cv",))])
    [received] = await service.events_of(waiting, 1)
    assert datetime.fromisoformat(received["data"]["submission_deadline"]) == DEADLINE
    await produce_events(
        service.bootstrap, [calendar(main_submissions_close=extended), tick(CLOSING)]
    )
    await service.clock_at(CLOSING)
    assert await service.status(waiting) == "incomplete"
    _, moved = await service.events_of(waiting, 2)
    assert moved["type"] == "ifuno.candidature.submission_deadline_moved.v1"
    assert datetime.fromisoformat(moved["data"]["submission_deadline"]) == extended
    await produce_events(
        service.bootstrap,
        [submitted(late_by_default, at=datetime(2027, 5, 20, 9, 0, tzinfo=PARIS))],
    )
    received, _ = await service.events_of(late_by_default, 2)
    assert received["type"] == RECEIVED
    assert datetime.fromisoformat(received["data"]["submission_deadline"]) == extended
    await produce_events(service.bootstrap, [tick(extended + timedelta(minutes=11))])
    _, _, refused = await service.events_of(waiting, 3)
    assert refused["type"] == REFUSED and refused["data"]["reason"] == "incomplete_at_deadline"


async def test_complementary_files_are_taken_while_selection_keeps_the_level_open(
    service: Service,
) -> None:
    first, second = service.id("16"), service.id("17")
    july = datetime(2027, 7, 6, 11, 0, tzinfo=PARIS)
    level_open = select(complementary_level.c.free_places).where(
        complementary_level.c.level == "M1"
    )
    opened = ComplementaryRoundOpened(campaign=2027, level="M1", free_places=2)
    await produce_events(service.bootstrap, [new_event(opened, subject="2027")])
    await service.until(level_open, 2)
    await produce_events(service.bootstrap, [submitted(first, at=july)])
    received, _ = await service.events_of(first, 2)
    assert received["type"] == RECEIVED and received["data"]["round"] == "complementary"
    closed = ComplementaryRoundClosed(campaign=2027, level="M1")
    await produce_events(service.bootstrap, [new_event(closed, subject="2027")])
    await service.until(level_open, None)
    await produce_events(service.bootstrap, [submitted(second, at=july)])
    [refused] = await service.events_of(second, 1)
    assert refused["type"] == REFUSED and refused["data"]["reason"] == "no_places_left"


async def test_phone_numbers_are_made_e164_and_an_unusable_one_is_shown_to_staff(
    service: Service,
) -> None:
    national, unusable = service.id("18"), service.id("19")
    await produce_events(
        service.bootstrap,
        [submitted(national, phone="06 12 34 56 78"), submitted(unusable, phone="06 12 34")],
    )
    contact = await service.contact_of(national)
    assert contact["phone"] == "+33612345678"
    assert contact["phone_unusable"] is False
    completed = (await service.events_of(unusable, 2))[1]
    assert completed["type"] == COMPLETED  # the application is kept
    contact = await service.contact_of(unusable)
    assert contact["phone"] is None
    assert contact["phone_unusable"] is True
    reviewer = {"Authorization": "Bearer reviewer-token"}
    detail = (await service.http.get(f"/v1/applications/{unusable}", headers=reviewer)).json()
    assert detail["candidate"]["phone_unusable"] is True
    assert detail["candidate"]["phone_as_given"] == "06 12 34"
    listing = await service.http.get("/v1/applications", headers=reviewer)
    flags = {a["application_id"]: a["phone_unusable"] for a in listing.json()}
    assert flags == {national: False, unusable: True}


async def test_a_vapp_declared_with_the_diploma_sent_is_complete(service: Service) -> None:
    app = service.id("20")
    await produce_events(service.bootstrap, [submitted(app, vapp=True)])
    received, completed = await service.events_of(app, 2)
    assert received["data"]["missing_documents"] == []
    assert completed["type"] == COMPLETED


async def test_an_admin_erasure_anonymizes_the_file_and_tombstones_its_contact(
    service: Service,
) -> None:
    app = service.id("erased")
    await produce_events(service.bootstrap, [submitted(app)])
    await service.events_of(app, 2)
    viewer = await service.http.post(f"/v1/applications/{app}/erasure", headers=VIEWER)
    assert viewer.status_code == 403
    answer = await service.http.post(f"/v1/applications/{app}/erasure", headers=ADMIN)
    assert answer.status_code == 200 and answer.json()["erased_now"] is True
    again = await service.http.post(f"/v1/applications/{app}/erasure", headers=ADMIN)
    assert again.json()["erased_now"] is False
    *_, erased = await service.events_of(app, 3)
    assert erased["type"] == "ifuno.candidature.application_erased.v1"
    recorded, tombstone = await service.contact_records(app, 2)
    assert recorded.value is not None and tombstone.value is None
    async with service.engine.connect() as connection:
        row = (
            await connection.execute(select(application).where(application.c.application_id == app))
        ).one()
        assert row.candidate == {} and row.highest_diploma is None
        assert row.status == "withdrawn" and row.level == "M1"
        left = await connection.scalar(
            select(func.count()).select_from(outbox_table).where(outbox_table.c.key == app)
        )
    assert left == 2  # the tombstone and `application_erased`, nothing older
    # The portal topic replayed: the submission is not taken in again.
    await produce_events(service.bootstrap, [submitted(app)])
    await asyncio.sleep(1.0)
    async with service.engine.connect() as connection:
        assert (
            await connection.scalar(
                select(application.c.candidate).where(application.c.application_id == app)
            )
            == {}
        )
