"""The repository on a real PostgreSQL, as a consumer batch uses it: many events in
one transaction, new applications kept in memory and inserted at the commit."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from ifuno_selection.adapters.repository import AlreadyStored, StaleCandidate
from ifuno_selection.config import SelectionSettings
from ifuno_selection.entrypoints.service import MIGRATIONS_DIR
from ifuno_selection.service_layer.handlers import HANDLERS, _run_committee, file_review
from ifuno_selection.service_layer.unit_of_work import SelectionUnitOfWork
from ifuno_shared.calendar import PARIS, InvalidCalendar, default_calendar
from ifuno_shared.events import CloudEvent, EventData, Level, Phase, Round, new_event, portal
from ifuno_shared.events import candidature as c
from ifuno_shared.events.timeline import CalendarChanged, PhaseWindow
from ifuno_tools.testing.database import migrated_sessions
from sqlalchemy import text

pytestmark = pytest.mark.integration

AT = datetime(2027, 5, 2, 9, 0, tzinfo=PARIS)
Uows = Callable[[], SelectionUnitOfWork]
YES, NO = c.Eligibility(eligible=True), c.Eligibility(eligible=False, reasons=["diploma"])


@pytest.fixture
async def uows(database_url: str) -> AsyncIterator[Uows]:
    settings = SelectionSettings(database_url=database_url, kafka_bootstrap="unused:9092")
    async with migrated_sessions(database_url, MIGRATIONS_DIR) as sessions:
        yield lambda: SelectionUnitOfWork(sessions, None, settings)


def event(data: EventData, minute: int) -> CloudEvent:
    subject = getattr(data, "application_id", "2027")
    return new_event(data, subject=subject, time=AT + timedelta(minutes=minute))


def received(application_id: str, eligibility: c.Eligibility = YES) -> CloudEvent:
    data = c.ApplicationReceived(
        application_id=application_id,
        campaign=2027,
        round="main",
        level="M1",
        regime="formation_continue",
        missing_documents=[],
        eligibility=eligibility,
    )
    return event(data, 0)


def completed(
    application_id: str, minute: int, eligibility: c.Eligibility | None = YES
) -> CloudEvent:
    data = c.ApplicationCompleted(
        application_id=application_id,
        completed_at=AT + timedelta(minutes=minute) if minute % 2 else None,
        eligibility=eligibility,
    )
    return event(data, minute)


def files(prefix: str) -> list[CloudEvent]:
    """Received and completed files, interleaved as candidature publishes them, with
    the other events of a new file that save it in the same transaction."""
    a, b, d, e, f, g, h = (f"{prefix}-{n}" for n in "abdefgh")
    return [
        received(a),
        received(b, NO),
        completed(a, 1),
        received(d),
        completed(b, 2),
        received(e, NO),
        completed(d, 3, eligibility=None),
        received(f),
        completed(e, 4, eligibility=NO),
        event(c.EligibilityOverridden(application_id=e, eligibility=YES, overridden_by="s"), 5),
        completed(d, 6),  # a second completion changes nothing
        received(g),
        event(c.ApplicationRefused(application_id=g, reason="campaign_closed"), 7),
        received(h),
        event(c.ApplicationWithdrawn(application_id=h), 8),
        completed(f"{prefix}-old", 9),  # received by an earlier transaction
    ]


async def apply(uows: Uows, events: list[CloudEvent]) -> None:
    """As the consumer applies a partition's batch: one unit of work, then commit."""
    async with uows() as uow:
        await uow.claim_inbox_many("selection", [e.id for e in events])
        for one in events:
            await HANDLERS[type(one.data)](one, uow)
        await uow.commit()


async def stored(uows: Uows, prefix: str) -> dict[str, dict[str, Any]]:
    async with uows() as uow:
        rows = await uow.session.execute(
            text("SELECT * FROM candidate WHERE application_id LIKE :p"), {"p": f"{prefix}-%"}
        )
        return {row["application_id"].removeprefix(prefix): dict(row) for row in rows.mappings()}


def without_ids(rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The rows as two ways of applying the same events must agree on: not the ids, nor
    the versions (random per write, for optimistic concurrency)."""
    return {key: {**row, "application_id": None, "version": None} for key, row in rows.items()}


async def test_a_batch_in_one_transaction_stores_what_a_transaction_per_event_stores(
    uows: Uows,
) -> None:
    for prefix in ("ONE", "EACH"):
        await apply(uows, [received(f"{prefix}-old")])
    await apply(uows, files("ONE"))
    for one in files("EACH"):
        await apply(uows, [one])

    batch, each = await stored(uows, "ONE"), await stored(uows, "EACH")
    assert without_ids(batch) == without_ids(each)
    assert {key: row["status"] for key, row in batch.items()} == {
        "-a": "in_review",
        "-b": "in_review",
        "-d": "in_review",
        "-e": "in_review",
        "-f": "received",
        "-g": "closed",
        "-h": "withdrawn",
        "-old": "in_review",
    }
    assert [batch[key]["eligible"] for key in ("-a", "-b", "-d", "-e")] == [True] * 4
    assert batch["-a"]["completed_at"] == AT + timedelta(minutes=1)
    assert batch["-b"]["completed_at"] == AT + timedelta(minutes=2)  # the event's time
    assert batch["-g"]["refusal_reason"] == "campaign_closed"


async def test_a_query_in_the_transaction_sees_its_new_applications(uows: Uows) -> None:
    async with uows() as uow:
        for one in (received("Q-1"), completed("Q-1", 1), received("Q-2")):
            await HANDLERS[type(one.data)](one, uow)
        found = await uow.candidates.for_committee(2027, Level.M1, Round.MAIN)
        assert [who.application_id for who in found] == ["Q-1"]
        refused = event(c.ApplicationRefused(application_id="Q-2", reason="late"), 2)
        await HANDLERS[c.ApplicationRefused](refused, uow)  # on the row written by the query
        await uow.commit()
    rows = await stored(uows, "Q")
    assert (rows["-1"]["status"], rows["-2"]["status"]) == ("in_review", "closed")


async def test_a_file_stored_before_is_never_overwritten_by_a_batch(uows: Uows) -> None:
    await apply(uows, [received("S-1"), completed("S-1", 1)])
    before = await stored(uows, "S")

    await apply(uows, [received("S-1", NO), received("S-2")])  # nothing read back: kept
    assert (await stored(uows, "S"))["-1"] == before["-1"]

    again = [received("S-1", NO), completed("S-1", 3, eligibility=NO)]
    with pytest.raises(AlreadyStored, match="S-1"):
        await apply(uows, again)
    for one in again:  # as the consumer replays a failed batch
        await apply(uows, [one])
    after = await stored(uows, "S")
    assert after["-1"] == before["-1"]
    assert after["-2"]["status"] == "received"


async def seed_full_level(uows: Uows, campaign: int) -> None:
    """Two places of M1, both offered, and three files waiting on the waitlist."""
    deadline = datetime(campaign, 7, 2, 23, 59, tzinfo=PARIS)
    async with uows() as uow:
        await uow.session.execute(
            text("INSERT INTO level_capacity VALUES (:campaign, 'M1', 2)"), {"campaign": campaign}
        )
        for name, status, rank in [
            ("O0", "offered", None),
            ("O1", "offered", None),
            ("W0", "waitlisted", 1),
            ("W1", "waitlisted", 2),
            ("W2", "waitlisted", 3),
        ]:
            await uow.session.execute(
                text(
                    "INSERT INTO candidate (application_id, campaign, level, round, status,"
                    " eligible, completed_at, file_score, interview_score, interview_by_video,"
                    " waitlist_rank, offer_deadline, from_waitlist)"
                    " VALUES (:id, :campaign, 'M1', 'main', :status, true, :at, 16, 12, false,"
                    " :rank, :deadline, false)"
                ),
                {
                    "id": f"P{campaign}-{name}",
                    "campaign": campaign,
                    "status": status,
                    "at": AT,
                    "rank": rank,
                    "deadline": deadline if status == "offered" else None,
                },
            )
        await uow.commit()


def answers(prefix: str) -> list[CloudEvent]:
    """Answers and withdrawals on one level, each seeing what the one before changed."""
    return [
        event(portal.OfferAnswered(application_id=f"{prefix}-O0", answer="decline"), 10),
        event(portal.OfferAnswered(application_id=f"{prefix}-O1", answer="accept"), 11),
        event(portal.OfferAnswered(application_id=f"{prefix}-W0", answer="decline"), 12),
        event(portal.ApplicationWithdrawn(application_id=f"{prefix}-O0"), 13),  # declined
        event(c.ApplicationWithdrawn(application_id=f"{prefix}-W2"), 14),
        event(c.ApplicationRefused(application_id=f"{prefix}-O0", reason="late"), 15),
    ]


async def published(uows: Uows, prefix: str) -> list[tuple[str, str]]:
    async with uows() as uow:
        rows = await uow.session.execute(
            text("SELECT key, type FROM outbox WHERE key LIKE :p ORDER BY id"), {"p": f"{prefix}-%"}
        )
        return [(key.removeprefix(prefix), kind.split(".")[2]) for key, kind in rows]


async def test_place_changes_in_one_batch_are_those_of_a_transaction_per_event(
    uows: Uows,
) -> None:
    await seed_full_level(uows, 2027)
    await seed_full_level(uows, 2028)
    await apply(uows, answers("P2027"))
    for one in answers("P2028"):
        await apply(uows, [one])

    batch, each = await stored(uows, "P2027"), await stored(uows, "P2028")
    ignored = {"application_id": None, "campaign": None, "offer_deadline": None, "version": None}
    assert {k: {**row, **ignored} for k, row in batch.items()} == {
        k: {**row, **ignored} for k, row in each.items()
    }
    assert {key: (row["status"], row["waitlist_rank"]) for key, row in batch.items()} == {
        "-O0": ("declined", None),
        "-O1": ("accepted", None),
        "-W0": ("declined", None),
        "-W1": ("offered", None),
        "-W2": ("withdrawn", None),
    }
    assert batch["-O0"]["refusal_reason"] is None
    assert (
        await published(uows, "P2027")
        == await published(uows, "P2028")
        == [
            ("-O0", "offer_declined"),
            ("-W0", "admitted"),
            ("-W1", "waitlist_rank_changed"),
            ("-W2", "waitlist_rank_changed"),
            ("-O1", "offer_accepted"),
            ("-W0", "offer_declined"),
            ("-W1", "admitted"),
            ("-W2", "waitlist_rank_changed"),
        ]
    )


async def place_counts(uows: Uows, prefix: str) -> list[tuple[str, str, Any, Any]]:
    """Each published place event: application, kind, places held after it, its number."""
    async with uows() as uow:
        rows = await uow.session.execute(
            text("SELECT key, type, value FROM outbox WHERE key LIKE :p ORDER BY id"),
            {"p": f"{prefix}-%"},
        )
        return [
            (
                key.removeprefix(prefix),
                kind.split(".")[2],
                data["places_held"],
                data["places_change"],
            )
            for key, kind, value in rows
            if "places_change" in (data := json.loads(value)["data"])
        ]


async def test_place_events_are_numbered_on_from_the_count_stored_with_the_level(
    uows: Uows,
) -> None:
    """The number goes on from one transaction to the next (stored on `level_capacity`),
    in a batch as one event per transaction: readers order a level's changes by it."""
    await seed_full_level(uows, 2029)
    await seed_full_level(uows, 2030)
    await apply(uows, answers("P2029"))
    for one in answers("P2030"):
        await apply(uows, [one])

    expected = [
        ("-O0", "offer_declined", 1, 1),
        ("-W0", "admitted", 2, 2),
        ("-O1", "offer_accepted", None, None),
        ("-W0", "offer_declined", 1, 3),
        ("-W1", "admitted", 2, 4),
    ]
    assert await place_counts(uows, "P2029") == await place_counts(uows, "P2030") == expected
    async with uows() as uow:
        rows = await uow.session.execute(
            text(
                "SELECT campaign, place_changes FROM level_capacity"
                " WHERE campaign IN (2029, 2030) ORDER BY campaign"
            )
        )
        assert list(rows) == [(2029, 4), (2030, 4)]


async def test_a_file_stored_before_and_added_again_is_read_back_as_stored(uows: Uows) -> None:
    await apply(uows, [received("R-1"), completed("R-1", 1)])
    async with uows() as uow:
        await HANDLERS[c.ApplicationReceived](received("R-1", NO), uow)
        await uow.candidates.for_committee(2027, Level.M1, Round.MAIN)  # inserts: kept stored
        await HANDLERS[c.ApplicationRefused](
            event(c.ApplicationRefused(application_id="R-1", reason="late"), 2), uow
        )
        await uow.commit()
    row = (await stored(uows, "R"))["-1"]
    assert (row["status"], row["eligible"], row["refusal_reason"]) == ("closed", True, "late")


def calendar_with_committee_at(committee: datetime) -> CalendarChanged:
    phases = [
        PhaseWindow(phase=p, starts_at=committee if p is Phase.MAIN_COMMITTEE else s, ends_at=e)
        for p, s, e in default_calendar(2027).phases()
    ]
    return CalendarChanged(campaign=2027, phases=phases)


async def test_an_announced_calendar_is_kept_and_one_out_of_order_refused(uows: Uows) -> None:
    moved = datetime(2027, 6, 29, 10, 0, tzinfo=PARIS)
    await apply(uows, [event(calendar_with_committee_at(moved), 0)])
    async with uows() as uow:
        announced = await uow.calendars.announced(2027)
        assert announced is not None and announced.main_committee == moved
        assert (await uow.season(2027)).complementary_window == (
            default_calendar(2027).complementary_submissions_open,
            default_calendar(2027).complementary_submissions_close,
        )
    before_interviews = datetime(2027, 5, 20, 10, 0, tzinfo=PARIS)
    with pytest.raises(InvalidCalendar, match="main_committee"):
        await apply(uows, [event(calendar_with_committee_at(before_interviews), 1)])
    async with uows() as uow:
        kept = await uow.calendars.announced(2027)
        assert kept is not None and kept.main_committee == moved


async def test_a_review_committed_meanwhile_is_never_overwritten_by_an_event(uows: Uows) -> None:
    """The race: an event's handler reads a file without a lock, a reviewer shortlists
    it and books its interview, then the handler saves its stale copy. The save is
    refused (nothing of its transaction kept); applied again, it sees the review."""
    await apply(uows, [received("R-1"), completed("R-1", 1)])
    overridden = event(
        c.EligibilityOverridden(application_id="R-1", eligibility=YES, overridden_by="staff"), 5
    )
    handler = uows()
    async with handler:
        stale = await handler.candidates.get("R-1")
        assert stale is not None and stale.status.value == "in_review"
        scores = {"training_involvement": 5, "digital_practice": 5, "project": 5}
        reviewed = await file_review(
            uows(), "R-1", "staff", {**scores, "study_capacity": 5}, False, AT
        )
        assert reviewed.status.value == "shortlisted"
        await HANDLERS[type(overridden.data)](overridden, handler)
        with pytest.raises(StaleCandidate):
            await handler.commit()
    after = (await stored(uows, "R"))["-1"]
    assert after["status"] == "shortlisted" and after["file_score"] == 20
    await apply(uows, [overridden])
    again = (await stored(uows, "R"))["-1"]
    assert again["status"] == "shortlisted" and again["file_score"] == 20 and again["eligible"]


async def test_a_withdrawal_committed_during_the_committee_is_never_overwritten(
    uows: Uows,
) -> None:
    """Two instances in one group: the committee (one transaction) has read the round's
    files when a withdrawal of one of them (another) is applied. The withdrawal waits
    for the committee's lock, then finds the file changed, and, applied again as the
    consumer does, frees the place the committee gave: a withdrawn file never ends up
    holding a place."""
    committee_at = datetime(2027, 6, 25, 18, 0, tzinfo=PARIS)
    async with uows() as uow:
        await uow.session.execute(text("INSERT INTO level_capacity VALUES (2027, 'M1', 2)"))
        for name in ("K-1", "K-2", "K-3"):
            await uow.session.execute(
                text(
                    "INSERT INTO candidate (application_id, campaign, level, round, status,"
                    " eligible, completed_at, file_score, interview_score, interview_by_video,"
                    " from_waitlist)"
                    " VALUES (:id, 2027, 'M1', 'main', 'interviewed', true, :at, 16, :score,"
                    " false, false)"
                ),
                {"id": name, "at": AT, "score": {"K-1": 14, "K-2": 13, "K-3": 12}[name]},
            )
        await uow.commit()
    withdrawal = event(c.ApplicationWithdrawn(application_id="K-1"), 10)

    async def withdraw_as_the_consumer_does() -> None:
        for _ in range(3):
            try:
                await apply(uows, [withdrawal])
                return
            except StaleCandidate:
                continue
        raise AssertionError("the withdrawal was never applied")

    committee = uows()
    other_instance: asyncio.Task[None] | None = None
    async with committee:
        read_files = committee.candidates.for_committee

        async def then_the_other_instance(*args: Any) -> list[Any]:
            nonlocal other_instance
            found = await read_files(*args)
            assert [who.application_id for who in found] == ["K-1", "K-2", "K-3"]
            other_instance = asyncio.create_task(withdraw_as_the_consumer_does())
            await asyncio.wait({other_instance}, timeout=1.0)  # done at once if not locked out
            return found

        committee.candidates.for_committee = then_the_other_instance  # type: ignore[method-assign]
        await _run_committee(committee, 2027, Level.M1, Round.MAIN, committee_at)
        await committee.commit()
    assert other_instance is not None
    await other_instance
    rows = await stored(uows, "K")
    assert rows["-1"]["status"] == "withdrawn"
    assert {rows[key]["status"] for key in ("-2", "-3")} == {"offered"}  # K-3 promoted
