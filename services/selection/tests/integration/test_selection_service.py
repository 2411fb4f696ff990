"""Selection through a real broker and PostgreSQL: from complete files to a full class."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from ifuno_selection.config import SelectionSettings
from ifuno_selection.entrypoints.service import MIGRATIONS_DIR, build_definition
from ifuno_shared.calendar import PARIS, default_calendar
from ifuno_shared.events import CloudEvent, Phase, Topic, new_event
from ifuno_shared.events import candidature as c
from ifuno_shared.events.portal import ApplicationWithdrawn, OfferAnswered
from ifuno_shared.events.timeline import ClockAdvanced, PhaseStarted
from ifuno_shared.persistence import create_engine
from ifuno_shared.persistence.migrations import upgrade_async
from ifuno_shared.runtime import ServiceRunner
from ifuno_tools.testing.kafka import kafka_consume, produce_events
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

CALENDAR = default_calendar(2027)
TOKENS = {
    "rev": "r.dupont:reviewer",
    "rev-2": "r.dupont:reviewer",
    "rev-3": "m.martin:reviewer",
    "com": "committee",
    "adm": "admin",
    "see": "viewer",
}
"""`rev` and `rev-2` are one person's two tokens (a replaced token, a second device)."""
REVIEWER = {"Authorization": "Bearer rev"}
COMMITTEE = {"Authorization": "Bearer com"}


def tick(now: datetime) -> CloudEvent:
    return new_event(ClockAdvanced(campaign=2027, now=now), subject="2027")


def phase(name: Phase) -> CloudEvent:
    found = next(p for p in CALENDAR.phases() if p[0] is name)
    return new_event(
        PhaseStarted(campaign=2027, phase=name, starts_at=found[1], ends_at=found[2]),
        subject="2027",
    )


def complete_file(application_id: str, minute: int) -> list[CloudEvent]:
    eligibility = c.Eligibility(eligible=True)
    completed_at = datetime(2027, 5, 2, 9, 0, tzinfo=PARIS) + timedelta(minutes=minute)
    return [
        new_event(
            c.ApplicationReceived(
                application_id=application_id,
                campaign=2027,
                round="main",
                level="M1",
                regime="formation_continue",
                missing_documents=[],
                eligibility=eligibility,
            ),
            subject=application_id,
        ),
        new_event(
            c.ApplicationCompleted(
                application_id=application_id,
                campaign=2027,
                round="main",
                level="M1",
                completed_at=completed_at,
                eligibility=eligibility,
            ),
            subject=application_id,
        ),
    ]


class Selection:
    def __init__(self, runner: ServiceRunner, bootstrap: str, engine: AsyncEngine) -> None:
        self.runner, self.bootstrap, self.engine = runner, bootstrap, engine
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.http_port}")

    async def statuses(self) -> dict[str, str]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(text("SELECT application_id, status FROM candidate"))
            return dict(rows.all())

    async def held(self) -> int:
        async with self.engine.connect() as connection:
            return await connection.scalar(
                text("SELECT count(*) FROM candidate WHERE status IN ('offered', 'accepted')")
            )

    async def wait_for(self, predicate, timeout: float = 60.0) -> dict[str, str]:  # type: ignore[no-untyped-def]
        async with asyncio.timeout(timeout):
            while not predicate(found := await self.statuses()):
                await asyncio.sleep(0.1)
        return found

    async def review(
        self, application_id: str, points: int, token: str = "rev", claimed: str = "r.dupont"
    ) -> httpx.Response:
        spread = [points // 4 + (1 if n < points % 4 else 0) for n in range(4)]
        scores = dict(
            zip(
                ["training_involvement", "digital_practice", "project", "study_capacity"],
                spread,
                strict=True,
            )
        )
        return await self.http.post(
            f"/v1/applications/{application_id}/file-review",
            json={"reviewer": claimed, "scores": scores},
            headers={"Authorization": f"Bearer {token}"},
        )

    async def interview(self, application_id: str, score: float | None) -> httpx.Response:
        body = {"attended": score is not None, "score": score}
        return await self.http.post(
            f"/v1/applications/{application_id}/interview-result", json=body, headers=REVIEWER
        )


@contextlib.asynccontextmanager
async def running(
    database_url: str, bootstrap: str, **settings: object
) -> AsyncIterator[Selection]:
    await upgrade_async(database_url, MIGRATIONS_DIR)
    configured = SelectionSettings(
        database_url=database_url,
        kafka_bootstrap=bootstrap,
        http_port=0,
        api_tokens=TOKENS,
        **settings,  # type: ignore[arg-type]
    )
    engine = create_engine(database_url)
    async with ServiceRunner(build_definition(configured, session_timeout_ms=3000)) as runner:
        service = Selection(runner, bootstrap, engine)
        yield service
        await service.http.aclose()
    await engine.dispose()


@pytest.fixture
async def selection(database_url: str, kafka) -> AsyncIterator[Selection]:
    async with running(database_url, kafka.bootstrap) as service:
        yield service


async def class_of_sixty(selection: Selection) -> list[str]:
    """60 complete M1 files, reviewed and interviewed, then the committee sits."""
    ids = [f"M1-{n:03d}" for n in range(60)]
    events = [tick(datetime(2027, 5, 20, 12, 0, tzinfo=PARIS))]
    for n, application_id in enumerate(ids):
        events += complete_file(application_id, minute=n)
    await produce_events(selection.bootstrap, events)
    await selection.wait_for(lambda s: len(s) == 60 and set(s.values()) == {"in_review"})
    rng = random.Random(7)
    for n, application_id in enumerate(ids):
        response = await selection.review(application_id, 20 if n < 50 else 8)
        assert response.status_code == 200, response.text
    for n, application_id in enumerate(ids[:50]):
        score = None if n == 49 else float(rng.randint(4, 20))
        assert (await selection.interview(application_id, score)).status_code == 200
    await produce_events(selection.bootstrap, [phase(Phase.MAIN_COMMITTEE)])
    await selection.wait_for(lambda s: "interviewed" not in s.values())
    return ids


async def test_sixty_complete_m1_files_make_a_class_of_exactly_twenty_and_a_ranked_waitlist(
    selection: Selection,
) -> None:
    await class_of_sixty(selection)
    statuses = await selection.statuses()
    assert list(statuses.values()).count("offered") == 20
    ranking = (await selection.http.get("/v1/rankings/2027/M1", headers=COMMITTEE)).json()
    admitted = [r for r in ranking if r["status"] == "offered"]
    waitlisted = [r for r in ranking if r["status"] == "waitlisted"]
    assert [r["waitlist_rank"] for r in waitlisted] == list(range(1, len(waitlisted) + 1))
    assert min(r["total"] for r in admitted) >= max(r["total"] for r in waitlisted)
    assert all(r["total"] >= 24 for r in admitted)
    assert all(r["total"] >= 20 for r in waitlisted)
    assert list(statuses.values()).count("refused") >= 10  # 10 below the shortlist, 1 absent
    events = [
        json.loads(r.value)
        for r in await kafka_consume(selection.bootstrap, Topic.SELECTION.value, 100)
    ]
    deadlines = {e["data"]["offer_deadline"] for e in events if e["type"].endswith("admitted.v1")}
    assert deadlines == {"2027-07-02T23:59:00+02:00"}  # the committee sat on 25 June, + 7 days


async def test_concurrent_declines_and_expiries_never_exceed_capacity(selection: Selection) -> None:
    ids = await class_of_sixty(selection)
    statuses = await selection.statuses()
    offered = [a for a in ids if statuses[a] == "offered"]
    answers = [
        new_event(OfferAnswered(application_id=a, answer="decline"), subject=a)
        for a in offered[:15]
    ]
    await produce_events(selection.bootstrap, answers)
    for step in range(15):
        assert await selection.held() <= 20, f"capacity exceeded after step {step}"
        await asyncio.sleep(0.05)
    # Every offer made so far expires at once, while more declines arrive.
    await produce_events(
        selection.bootstrap,
        [tick(datetime(2027, 7, 20, tzinfo=PARIS))]
        + [
            new_event(OfferAnswered(application_id=a, answer="decline"), subject=a)
            for a in offered[15:]
        ],
    )
    for _ in range(40):
        assert await selection.held() <= 20
        await asyncio.sleep(0.05)
    final = await selection.wait_for(
        lambda s: "waitlisted" not in s.values() or list(s.values()).count("offered") == 20
    )
    assert await selection.held() <= 20
    assert list(final.values()).count("offered") + list(final.values()).count("accepted") <= 20


async def test_capacity_is_enforced_by_the_database_itself(selection: Selection) -> None:
    await class_of_sixty(selection)
    async with selection.engine.begin() as connection:
        waitlisted = await connection.scalar(
            text("SELECT application_id FROM candidate WHERE status = 'waitlisted' LIMIT 1")
        )
    with pytest.raises(Exception, match="capacity of M1 2027 exceeded"):
        async with selection.engine.begin() as connection:
            await connection.execute(
                text("UPDATE candidate SET status = 'offered' WHERE application_id = :a"),
                {"a": waitlisted},
            )


async def test_an_offer_expires_at_its_deadline_and_promotes_the_next(selection: Selection) -> None:
    await class_of_sixty(selection)
    before = await selection.statuses()
    first_waitlisted = (
        await selection.http.get(
            "/v1/applications",
            params={"status": "waitlisted"},
            headers=COMMITTEE,
        )
    ).json()
    top = min(first_waitlisted, key=lambda r: r["waitlist_rank"])["application_id"]
    await produce_events(
        selection.bootstrap, [tick(datetime(2027, 7, 2, 23, 59, 30, tzinfo=PARIS))]
    )
    await asyncio.sleep(1.0)
    assert (await selection.statuses()) == before  # the deadline minute is still open
    await produce_events(selection.bootstrap, [tick(datetime(2027, 7, 3, 0, 9, 59, tzinfo=PARIS))])
    await asyncio.sleep(1.0)
    assert (await selection.statuses()) == before  # late, but within the grace period
    await produce_events(selection.bootstrap, [tick(datetime(2027, 7, 3, 0, 10, 1, tzinfo=PARIS))])
    after = await selection.wait_for(lambda s: "expired" in s.values())
    assert list(after.values()).count("expired") == 20
    assert after[top] == "offered"


async def test_a_withdrawal_after_acceptance_promotes_the_next(selection: Selection) -> None:
    ids = await class_of_sixty(selection)
    statuses = await selection.statuses()
    accepted = next(a for a in ids if statuses[a] == "offered")
    waitlisted = (
        await selection.http.get(
            "/v1/applications",
            params={"status": "waitlisted"},
            headers=COMMITTEE,
        )
    ).json()
    top = min(waitlisted, key=lambda r: r["waitlist_rank"])["application_id"]
    await produce_events(
        selection.bootstrap,
        [
            new_event(OfferAnswered(application_id=accepted, answer="accept"), subject=accepted),
            new_event(ApplicationWithdrawn(application_id=accepted, reason=None), subject=accepted),
        ],
    )
    after = await selection.wait_for(lambda s: s[accepted] == "withdrawn")
    assert after[top] == "offered"
    events = [
        json.loads(r.value)
        for r in await kafka_consume(selection.bootstrap, Topic.SELECTION.value, 150)
    ]
    types = [e["type"].split(".")[2] for e in events if e["subject"] in (accepted, top)]
    assert "offer_accepted" in types and "place_released" in types
    promoted = [e for e in events if e["subject"] == top and e["type"].endswith("admitted.v1")]
    assert promoted and promoted[0]["data"]["from_waitlist"] is True


async def test_staff_api_answers_401_403_and_422(selection: Selection) -> None:
    await produce_events(selection.bootstrap, complete_file("X-1", 0))
    await selection.wait_for(lambda s: s.get("X-1") == "in_review")
    path = "/v1/applications/X-1/file-review"
    body = {
        "reviewer": "r",
        "scores": {
            "training_involvement": 5,
            "digital_practice": 5,
            "project": 5,
            "study_capacity": 5,
        },
    }
    assert (await selection.http.post(path, json=body)).status_code == 401
    assert (
        await selection.http.post(path, json=body, headers={"Authorization": "Bearer nope"})
    ).status_code == 401
    assert (
        await selection.http.post(path, json=body, headers={"Authorization": "Bearer see"})
    ).status_code == 403
    bad = {**body, "scores": {**body["scores"], "project": 6}}
    invalid = await selection.http.post(path, json=bad, headers=REVIEWER)
    assert invalid.status_code == 422
    assert invalid.json()["detail"][0]["loc"] == ["body", "scores", "project"]
    for field, wrong in (
        (("scores", "bonus"), {**body, "scores": {**body["scores"], "bonus": 5}}),
        (("zzz",), {**body, "zzz": 1}),
        (("scores", "project"), {**body, "scores": {**body["scores"], "project": "5"}}),
        (("interview_by_video",), {**body, "interview_by_video": "yes"}),
    ):
        refused = await selection.http.post(path, json=wrong, headers=REVIEWER)
        assert refused.status_code == 422, field
        assert refused.json()["detail"][0]["loc"] == ["body", *field]
    unknown = await selection.http.post(
        "/v1/applications/none/file-review", json=body, headers=REVIEWER
    )
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "no application none"})
    assert (await selection.http.post(path, json=body, headers=REVIEWER)).status_code == 200
    twice = await selection.http.post(path, json=body, headers=REVIEWER)
    assert twice.status_code == 409 and "not in review" in twice.json()["detail"]
    result = await selection.http.post(
        "/v1/applications/X-1/interview-result", json={"attended": True}, headers=REVIEWER
    )
    assert result.status_code == 422
    for viewer_may_not in ("/v1/rankings/2027/M1", "/v1/applications"):
        refused = await selection.http.get(viewer_may_not, headers={"Authorization": "Bearer see"})
        assert (refused.status_code, refused.json()) == (
            403,
            {"detail": "this role may not do this"},
        )
    assert (await selection.http.get("/v1/rankings/2027/M1", headers=REVIEWER)).status_code == 403
    scheduled = [
        json.loads(r.value)
        for r in await kafka_consume(selection.bootstrap, Topic.SELECTION.value, 2)
    ]
    interview = next(e for e in scheduled if e["type"].endswith("interview_scheduled.v1"))
    assert interview["data"]["starts_at"] == "2027-06-01T09:00:00+02:00"


async def test_reviews_count_under_the_token_name_whatever_the_body_says(
    database_url: str, kafka
) -> None:
    """Two reviews required: one person's two tokens count once, and the body's (ignored,
    deprecated) `reviewer` cannot make one person two reviewers."""
    async with running(database_url, kafka.bootstrap, reviews_required=2) as selection:
        await produce_events(selection.bootstrap, complete_file("R-1", 0))
        await selection.wait_for(lambda s: s.get("R-1") == "in_review")
        first = await selection.review("R-1", 20, token="rev", claimed="a.forged.name")
        assert first.status_code == 200 and first.json()["status"] == "in_review"
        again = await selection.review("R-1", 16, token="rev-2", claimed="another.one")
        assert again.status_code == 200 and again.json()["status"] == "in_review"
        async with selection.engine.connect() as connection:
            reviewers = await connection.execute(
                text("SELECT reviewer, scores FROM review WHERE application_id = 'R-1'")
            )
            rows = reviewers.all()
        assert [(name, sum(scores.values())) for name, scores in rows] == [("r.dupont", 16)]
        second = await selection.review("R-1", 20, token="rev-3", claimed="r.dupont")
        assert second.status_code == 200 and second.json()["status"] == "shortlisted"
        async with selection.engine.connect() as connection:
            names = await connection.scalars(
                text("SELECT reviewer FROM review WHERE application_id = 'R-1' ORDER BY 1")
            )
            assert list(names) == ["m.martin", "r.dupont"]


async def test_thirty_truly_concurrent_declines_expiries_and_withdrawals_keep_capacity(
    selection: Selection,
) -> None:
    """Thirty transactions at once on the same level, straight through the handlers:
    the level lock serialises them and the database trigger guards the invariant."""
    from ifuno_selection.service_layer import handlers

    ids = await class_of_sixty(selection)
    statuses = await selection.statuses()
    offered = [a for a in ids if statuses[a] == "offered"]
    waitlisted = [a for a in ids if statuses[a] == "waitlisted"]
    context = selection.runner.context
    assert context is not None

    async def run(event: CloudEvent) -> None:
        async with context.uow_factory() as uow:
            await handlers.HANDLERS[type(event.data)](event, uow)
            await uow.commit()

    events = [
        new_event(OfferAnswered(application_id=a, answer="decline"), subject=a)
        for a in offered[:12]
    ]
    events += [
        new_event(ApplicationWithdrawn(application_id=a, reason=None), subject=a)
        for a in offered[12:16] + waitlisted[:4]
    ]
    events += [tick(datetime(2027, 7, 3, 0, 10, n, tzinfo=PARIS)) for n in range(10)]
    assert len(events) == 30
    for finished in asyncio.as_completed([run(event) for event in events]):
        await finished
        assert await selection.held() <= 20
    final = await selection.statuses()
    assert await selection.held() <= 20
    assert "offered" in final.values() or "waitlisted" not in final.values()


async def test_staff_notes_are_checked_kept_for_staff_only_and_erased(
    selection: Selection, caplog: pytest.LogCaptureFixture
) -> None:
    """A reviewer's note and the interview's notes: refused with a 422 naming the field
    (too long, a control character) and nothing kept; stored and read back by staff,
    never by a viewer; in no event and no log line; gone with the file's erasure."""
    caplog.set_level(logging.INFO)
    await produce_events(selection.bootstrap, complete_file("N-1", 0))
    await selection.wait_for(lambda s: s.get("N-1") == "in_review")
    review = "/v1/applications/N-1/file-review"
    result = "/v1/applications/N-1/interview-result"
    scores = dict.fromkeys(
        ("training_involvement", "digital_practice", "project", "study_capacity"), 4
    )
    note = "Projet Sémaphore solide.\r\n\tÀ revoir : le stage."
    notes = "Très motivée (Ortolan).\nRéponses claires."
    for field, path, body in (
        ("note", review, {"scores": scores}),
        ("notes", result, {"attended": True, "score": 15}),
    ):
        for bad in ("Sémaphore " + "x" * 1991, "Sémaphore\x07", "Sémaphore\x00"):
            refused = await selection.http.post(path, json={**body, field: bad}, headers=REVIEWER)
            assert refused.status_code == 422, refused.text
            assert refused.json()["detail"][0]["loc"] == ["body", field]
            assert "Sémaphore" not in refused.text  # the refused text is not echoed
        if path == review:
            assert await selection.statuses() == {"N-1": "in_review"}
            reviewed = await selection.http.post(path, json={**body, field: note}, headers=REVIEWER)
            assert reviewed.json()["status"] == "shortlisted", reviewed.text
    recorded = await selection.http.post(
        result, json={"attended": True, "score": 15, "notes": notes}, headers=REVIEWER
    )
    assert recorded.json()["status"] == "interviewed", recorded.text

    expected = {
        "application_id": "N-1",
        "review_notes": [{"reviewer": "r.dupont", "note": note}],
        "interview_notes": notes,
    }
    for token in ("rev", "com", "adm"):
        read = await selection.http.get(
            "/v1/applications/N-1/notes", headers={"Authorization": f"Bearer {token}"}
        )
        found = read.json()
        for entry in found["review_notes"]:
            entry.pop("reviewed_at")
        assert found == expected
    listed = await selection.http.get("/v1/applications", headers=REVIEWER)
    assert listed.json()[0]["interview_notes"] == notes
    slots = await selection.http.get("/v1/interviews", params={"campaign": 2027}, headers=REVIEWER)
    assert slots.json()[0]["interview_notes"] == notes
    viewer = {"Authorization": "Bearer see"}
    for path in ("/v1/applications/N-1/notes", "/v1/interviews?campaign=2027"):
        assert (await selection.http.get(path, headers=viewer)).status_code == 403
    unknown = await selection.http.get("/v1/applications/none/notes", headers=REVIEWER)
    assert unknown.status_code == 404

    await produce_events(
        selection.bootstrap,
        [new_event(c.ApplicationErased(application_id="N-1", campaign=2027), subject="N-1")],
    )
    published = await kafka_consume(selection.bootstrap, Topic.SELECTION.value, 4)
    types = [json.loads(r.value)["type"].split(".")[2] for r in published]
    assert "erasure_confirmed" in types, types
    assert not any(b"motiv" in r.value or b"Projet" in r.value for r in published)
    erased = await selection.http.get("/v1/applications/N-1/notes", headers=REVIEWER)
    assert erased.json() == {"application_id": "N-1", "review_notes": [], "interview_notes": None}
    async with selection.engine.connect() as connection:
        kept = await connection.execute(
            text(
                "SELECT r.note, c.interview_notes FROM review r JOIN candidate c"
                " USING (application_id) WHERE application_id = 'N-1'"
            )
        )
        assert kept.all() == [(None, None)]
    assert "Sémaphore" not in caplog.text and "motivée" not in caplog.text
