"""A season's edges through a real broker and PostgreSQL: the committee's empty places,
files not ranked in time, a moved committee, the complementary round opening in July,
answers judged by the candidate's own time, the two-year plan and the waitlist's end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from ifuno_selection.config import SelectionSettings
from ifuno_selection.entrypoints.service import MIGRATIONS_DIR, build_definition
from ifuno_shared.calendar import PARIS, default_calendar
from ifuno_shared.events import CloudEvent, EventData, Level, Phase, Topic, new_event
from ifuno_shared.events import candidature as c
from ifuno_shared.events.portal import OfferAnswered, TwoYearPlanRequested
from ifuno_shared.events.timeline import CalendarChanged, ClockAdvanced, PhaseStarted, PhaseWindow
from ifuno_shared.persistence import create_engine
from ifuno_shared.persistence.migrations import upgrade_async
from ifuno_shared.runtime import ServiceRunner
from ifuno_tools.testing.kafka import kafka_consume, produce_events
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

pytestmark = pytest.mark.integration

CALENDAR = default_calendar(2027)
TOKENS = {"rev": "reviewer", "see": "viewer"}
REVIEWER = {"Authorization": "Bearer rev"}
CRITERIA = ["training_involvement", "digital_practice", "project", "study_capacity"]


def at(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2027, month, day, hour, minute, second, tzinfo=PARIS)


def timeline(data: EventData) -> CloudEvent:
    return new_event(data, subject="2027")


def tick(now: datetime) -> CloudEvent:
    return timeline(ClockAdvanced(campaign=2027, now=now))


def phase(name: Phase) -> CloudEvent:
    _, starts_at, ends_at = next(p for p in CALENDAR.phases() if p[0] is name)
    return timeline(PhaseStarted(campaign=2027, phase=name, starts_at=starts_at, ends_at=ends_at))


def portal(data: OfferAnswered | TwoYearPlanRequested) -> CloudEvent:
    return new_event(data, subject=data.application_id)


def complete_file(application_id: str, level: Level, minute: int) -> list[CloudEvent]:
    eligibility = c.Eligibility(eligible=True)
    fields: dict[str, Any] = {"application_id": application_id, "campaign": 2027}
    fields.update(round="main", level=level)
    return [
        new_event(
            c.ApplicationReceived(
                **fields,
                regime="formation_initiale",
                missing_documents=[],
                eligibility=eligibility,
            ),
            subject=application_id,
        ),
        new_event(
            c.ApplicationCompleted(
                **fields,
                completed_at=at(5, 2, 9) + timedelta(minutes=minute),
                eligibility=eligibility,
            ),
            subject=application_id,
        ),
    ]


class Selection:
    def __init__(self, runner: ServiceRunner, bootstrap: str, engine: AsyncEngine) -> None:
        self.bootstrap, self.engine = bootstrap, engine
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{runner.http_port}")

    async def rows(self) -> dict[str, dict[str, Any]]:
        async with self.engine.connect() as connection:
            rows = await connection.execute(text("SELECT * FROM candidate"))
            return {row["application_id"]: dict(row) for row in rows.mappings()}

    async def statuses(self) -> dict[str, str]:
        return {key: row["status"] for key, row in (await self.rows()).items()}

    async def scalar(self, statement: str) -> Any:
        async with self.engine.connect() as connection:
            return await connection.scalar(text(statement))

    async def until(self, ready: Callable[[], Any], timeout: float = 60.0) -> None:
        async with asyncio.timeout(timeout):
            while not await ready():
                await asyncio.sleep(0.1)

    async def send(self, *events: CloudEvent) -> None:
        await produce_events(self.bootstrap, list(events))

    async def move_clock(self, now: datetime, *with_it: CloudEvent) -> None:
        """Send the events, then the tick, and wait until the tick is applied."""
        await self.send(*with_it, tick(now))

        async def applied() -> bool:
            current = await self.scalar("SELECT now FROM platform_clock")
            return current is not None and current >= now

        await self.until(applied)

    async def wait_for(self, predicate: Callable[[dict[str, str]], bool]) -> dict[str, str]:
        found: dict[str, str] = {}

        async def ready() -> bool:
            nonlocal found
            found = await self.statuses()
            return predicate(found)

        await self.until(ready)
        return found

    async def rank(self, application_id: str, file_points: int, interview: float | None) -> None:
        """A review worth `file_points` out of 20, then (if given) the interview's score."""
        scores = {name: file_points // 4 + (n < file_points % 4) for n, name in enumerate(CRITERIA)}
        review = await self.http.post(
            f"/v1/applications/{application_id}/file-review",
            json={"reviewer": "r.dupont", "scores": scores},
            headers=REVIEWER,
        )
        assert review.status_code == 200, review.text
        if interview is not None:
            result = await self.http.post(
                f"/v1/applications/{application_id}/interview-result",
                json={"attended": True, "score": interview},
                headers=REVIEWER,
            )
            assert result.status_code == 200, result.text

    async def published(self, at_least: int) -> list[dict[str, Any]]:
        records = await kafka_consume(self.bootstrap, Topic.SELECTION.value, at_least)
        return [json.loads(record.value) for record in records]


async def start(database_url: str, kafka: Any, **settings: Any) -> AsyncIterator[Selection]:
    await upgrade_async(database_url, MIGRATIONS_DIR)
    config = SelectionSettings(
        database_url=database_url,
        kafka_bootstrap=kafka.bootstrap,
        http_port=0,
        api_tokens=TOKENS,
        **settings,
    )
    engine = create_engine(database_url)
    async with ServiceRunner(build_definition(config, session_timeout_ms=3000)) as runner:
        service = Selection(runner, kafka.bootstrap, engine)
        yield service
        await service.http.aclose()
    await engine.dispose()


@pytest.fixture
async def five_places(database_url: str, kafka: Any) -> AsyncIterator[Selection]:
    """Five places in M1; offers answered within 3 days."""
    async for service in start(database_url, kafka, capacity_m1=5, offer_days=3):
        yield service


@pytest.fixture
async def two_places(database_url: str, kafka: Any) -> AsyncIterator[Selection]:
    async for service in start(database_url, kafka, capacity_m1=2, capacity_m2=2):
        yield service


async def test_a_moved_committee_fills_its_empty_places_from_the_waitlist_and_decides_every_file(
    five_places: Selection,
) -> None:
    selection = five_places
    admitted, waiting = ["A0", "A1"], [f"W{n}" for n in range(5)]
    ids = [*admitted, *waiting, "U", "S", "X"]
    events = [event for n, one in enumerate(ids) for event in complete_file(one, Level.M1, n)]
    await selection.move_clock(at(5, 20, 12), *events)
    await selection.wait_for(lambda s: len(s) == len(ids))
    for one in [*admitted, "X"]:
        await selection.rank(one, 16, 16.0)  # 32/40
    # Staff find X's prerequisites unmet after its interview: the committee refuses it.
    not_eligible = c.EligibilityOverridden(
        application_id="X",
        eligibility=c.Eligibility(eligible=False, reasons=["m1_requires_bac3_or_vapp"]),
        overridden_by="a.martin",
    )
    await selection.send(new_event(not_eligible, subject="X"))
    await selection.until(
        lambda: selection.scalar("SELECT NOT eligible FROM candidate WHERE application_id = 'X'")
    )
    for one in waiting:
        await selection.rank(one, 12, 10.0)  # 22/40: waitlisted
    # S is reviewed on 10 June: no slot left a week ahead in the window.
    await selection.move_clock(at(6, 10, 12))
    await selection.rank("S", 16, None)

    moved = at(6, 29, 10)
    phases = [
        PhaseWindow(phase=p, starts_at=moved if p is Phase.MAIN_COMMITTEE else s, ends_at=e)
        for p, s, e in CALENDAR.phases()
    ]
    await selection.send(timeline(CalendarChanged(campaign=2027, phases=phases)))
    await selection.move_clock(at(6, 25, 15), phase(Phase.MAIN_COMMITTEE))  # the old date
    assert "offered" not in (await selection.statuses()).values()

    unfinished = await selection.http.get(
        "/v1/applications/unfinished", params={"campaign": 2027, "level": "M1"}, headers=REVIEWER
    )
    assert unfinished.status_code == 200, unfinished.text
    listed = {row["application_id"]: row for row in unfinished.json()}
    assert {one: row["refused_as"] for one, row in listed.items()} == {
        "U": "not_ranked_in_time",
        "S": "not_ranked_in_time",
        "X": "ineligible",
    }
    assert {row["committee_at"] for row in listed.values()} == {moved.isoformat()}
    viewer = {"Authorization": "Bearer see"}
    assert (
        await selection.http.get("/v1/applications/unfinished", headers=viewer)
    ).status_code == 403

    await selection.move_clock(moved + timedelta(minutes=5))
    final = await selection.wait_for(lambda s: "refused" in s.values())
    assert {one: final[one] for one in ids} == {
        **dict.fromkeys(["A0", "A1", "W0", "W1", "W2"], "offered"),
        "W3": "waitlisted",
        "W4": "waitlisted",
        "U": "refused",
        "S": "refused",
        "X": "refused",
    }
    rows = await selection.rows()
    assert (rows["W3"]["waitlist_rank"], rows["W4"]["waitlist_rank"]) == (1, 2)
    assert {rows[one]["refusal_reason"] for one in ("U", "S")} == {"not_ranked_in_time"}

    events = await selection.published(32)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_kind.setdefault(event["type"].split(".")[2], []).append(event)
    scheduled = next(e for e in by_kind["interview_scheduled"] if e["subject"] == "S")
    assert scheduled["data"]["short_notice"] is True and scheduled["data"]["notice_days"] == 0
    promoted = [e["subject"] for e in by_kind["admitted"] if e["data"]["from_waitlist"]]
    assert sorted(promoted) == ["W0", "W1", "W2"]  # keyed by application: any order
    assert {e["data"]["offer_deadline"] for e in by_kind["admitted"]} == {
        "2027-07-02T23:59:00+02:00"  # 29 June + 3 days
    }
    assert sorted((e["subject"], e["data"]["rank"]) for e in by_kind["waitlisted"]) == [
        ("W3", 1),
        ("W4", 2),
    ]
    refused = {e["subject"]: e["data"]["reason"] for e in by_kind["refused"]}
    assert refused == {"U": "not_ranked_in_time", "S": "not_ranked_in_time", "X": "ineligible"}

    listing = await selection.http.get("/v1/applications", headers=REVIEWER)
    short = {row["application_id"]: row["short_notice"] for row in listing.json()}
    assert short["S"] is True and short["A0"] is False


async def test_july_opens_the_round_where_the_waitlist_ran_out_answers_count_by_their_time(
    two_places: Selection,
) -> None:
    selection = two_places
    m1, m2 = ["M1-O0", "M1-O1", "M1-W0"], [f"M2-{n}" for n in ("O0", "O1", "W0", "W1", "W2")]
    events = [e for n, one in enumerate(m1) for e in complete_file(one, Level.M1, n)]
    events += [e for n, one in enumerate(m2) for e in complete_file(one, Level.M2, 10 + n)]
    await selection.move_clock(at(5, 20, 12), *events)
    await selection.wait_for(lambda s: len(s) == len(m1) + len(m2))
    for one in [*m1, *m2]:
        await selection.rank(one, 16 if "-O" in one else 12, 16.0 if "-O" in one else 10.0)
    await selection.move_clock(at(6, 25, 14), phase(Phase.MAIN_COMMITTEE))
    await selection.wait_for(lambda s: list(s.values()).count("offered") == 4)

    # M1's waitlist runs out in June: its last candidate's offer ends on 3 July.
    answered = at(6, 26, 10)
    await selection.move_clock(answered + timedelta(minutes=1))  # the promotion's "now"
    await selection.send(
        portal(OfferAnswered(application_id="M1-O0", answer="accept", answered_at=answered)),
        portal(OfferAnswered(application_id="M1-O1", answer="decline", answered_at=answered)),
    )
    await selection.wait_for(lambda s: s["M1-W0"] == "offered")
    await selection.move_clock(at(7, 1), phase(Phase.COMPLEMENTARY_SUBMISSIONS_OPEN))
    # M2's offers of 2 July expire after the grace; its waitlist fills the places.
    await selection.move_clock(at(7, 3, 0, 10, 1))
    await selection.wait_for(lambda s: s["M2-O0"] == "expired" and s["M2-W1"] == "offered")
    rounds = "SELECT count(*) FROM level_capacity WHERE complementary_round IS NOT NULL"
    assert await selection.scalar(rounds) == 0
    await selection.move_clock(at(7, 4, 0, 10, 1))
    await selection.wait_for(lambda s: s["M1-W0"] == "expired")
    assert await selection.scalar(rounds) == 1

    # Answers read after the expiry tick, judged by the candidate's own time.
    await selection.send(
        portal(
            OfferAnswered(application_id="M1-W0", answer="accept", answered_at=at(7, 3, 23, 59, 30))
        ),
        portal(
            OfferAnswered(application_id="M2-O0", answer="accept", answered_at=at(7, 3, 0, 0, 30))
        ),
        portal(
            OfferAnswered(application_id="M2-O1", answer="accept", answered_at=at(7, 2, 23, 59, 30))
        ),
        portal(OfferAnswered(application_id="M2-W0", answer="accept", answered_at=at(7, 5, 9))),
        # No offer left pending across the jump to the academic year (its expiry would
        # come first, in July, and promote those waiting).
        portal(OfferAnswered(application_id="M2-W1", answer="accept", answered_at=at(7, 5, 9))),
    )
    found = await selection.wait_for(
        lambda s: s["M1-W0"] == "accepted" and s["M2-O1"] == "waitlisted"
    )
    assert found["M2-O0"] == "expired"  # answered in the minute after its deadline
    rows = await selection.rows()
    assert rows["M2-O1"]["waitlist_rank"] == 1 and rows["M2-W2"]["waitlist_rank"] == 2
    assert rows["M2-O1"]["late_answer"] and rows["M1-W0"]["late_answer"]
    listing = await selection.http.get(
        "/v1/applications", params={"status": "waitlisted"}, headers=REVIEWER
    )
    assert {row["application_id"]: row["late_answer"] for row in listing.json()} == {
        "M2-O1": True,
        "M2-W2": False,
    }

    # The two-year plan: an accepted M2 candidate only.
    await selection.send(
        portal(TwoYearPlanRequested(application_id="M2-W0")),
        portal(TwoYearPlanRequested(application_id="M1-O0")),
    )
    await selection.until(
        lambda: selection.scalar("SELECT count(*) = 1 FROM candidate WHERE two_year_plan")
    )

    # The academic year starts: no place will be offered to those still waiting.
    await selection.move_clock(CALENDAR.academic_year_start, phase(Phase.ACADEMIC_YEAR_START))
    final = await selection.wait_for(lambda s: "waitlisted" not in s.values())
    assert (final["M2-O1"], final["M2-W2"]) == ("waitlist_closed", "waitlist_closed")

    events = await selection.published(50)
    kinds = [(e["type"].split(".")[2], e["subject"], e["data"]) for e in events]
    opened = [data for kind, _, data in kinds if kind == "complementary_round_opened"]
    assert opened == [{"campaign": 2027, "level": "M1", "free_places": 1}]
    closed = [data for kind, _, data in kinds if kind == "complementary_round_closed"]
    assert closed == [{"campaign": 2027, "level": "M1"}]
    late = [data for kind, who, data in kinds if kind == "waitlisted" and who == "M2-O1"]
    assert late and late[0]["rank"] == 1 and late[0]["late_answer"] is True
    plans = [who for kind, who, _ in kinds if kind == "two_year_plan_recorded"]
    assert plans == ["M2-W0"]
    assert sorted(who for kind, who, _ in kinds if kind == "waitlist_closed") == [
        "M2-O1",
        "M2-W2",
    ]
