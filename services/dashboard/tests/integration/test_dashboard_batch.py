"""A consumer batch in one unit of work on a real PostgreSQL (no broker): the views are
kept (prefetched, on the consumer's fast path) and the writes deferred, yet the read
model is the one of one event at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from ifuno_dashboard.adapters.repository import read_messages, read_points, read_views
from ifuno_dashboard.adapters.tables import metadata
from ifuno_dashboard.domain.projection import ApplicationView
from ifuno_dashboard.entrypoints.service import MIGRATIONS_DIR
from ifuno_dashboard.service_layer.handlers import HANDLERS
from ifuno_dashboard.service_layer.summary import build_summary
from ifuno_dashboard.service_layer.unit_of_work import SqlDashboardUnitOfWork
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import CloudEvent, EventData, Level, new_event
from ifuno_shared.events import candidature as c
from ifuno_shared.events import notification as n
from ifuno_shared.events import selection as s
from ifuno_shared.events.timeline import ClockAdvanced
from ifuno_tools.testing.database import migrated_sessions, statements
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

pytestmark = pytest.mark.integration

DEADLINE = datetime(2027, 7, 2, 23, 59, tzinfo=PARIS)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with migrated_sessions(database_url, MIGRATIONS_DIR) as factory:
        yield factory


def ev(data: EventData) -> CloudEvent:
    return new_event(data, subject=getattr(data, "application_id", "2027"))


def received(a: str) -> CloudEvent:
    return ev(
        c.ApplicationReceived(
            application_id=a,
            campaign=2027,
            round="main",
            level="M1",
            regime="formation_continue",
            missing_documents=[],
            eligibility=c.Eligibility(eligible=True),
        )
    )


def admitted(a: str) -> CloudEvent:
    return ev(
        s.Admitted(application_id=a, level="M1", offer_deadline=DEADLINE, from_waitlist=False)
    )


def sent(a: str, template: str) -> CloudEvent:
    return ev(
        n.NotificationSent(application_id=a, channel="email", template=template, cause_event_id=a)
    )


def day(n: int) -> datetime:
    return datetime(2027, 6, n, tzinfo=PARIS)


def tick(n: int) -> CloudEvent:
    return ev(ClockAdvanced(campaign=2027, now=day(n)))


# Committed before the batch: the batch then updates rows, not only inserts them (and
# D's stored fields, which its event in the batch leaves, must be kept as stored).
BEFORE = [
    tick(26),
    received("A"),
    sent("A", "received"),
    received("D"),
    ev(c.ApplicationRefused(application_id="D", reason="incomplete_at_deadline")),
]

# Several events per application, places counted between writes of other views, and
# notifications repeated (counts added to a stored one, and to each other). E has no
# row: its view must start empty, not take another application's stored fields.
BATCH = [
    ev(c.ApplicationCompleted(application_id="A")),
    received("B"),
    received("C"),
    ev(c.ApplicationCompleted(application_id="B")),
    ev(c.ApplicationCompleted(application_id="A")),  # changes nothing
    sent("B", "received"),
    sent("C", "received"),
    admitted("A"),
    admitted("B"),
    tick(27),
    admitted("C"),
    ev(s.OfferDeclined(application_id="B")),
    ev(s.OfferAccepted(application_id="A")),
    sent("A", "admitted"),
    sent("A", "admitted"),
    ev(
        n.NotificationFailed(
            application_id="B", channel="sms", template="admitted", cause_event_id="B", error="550"
        )
    ),
    ev(s.InterviewRecorded(application_id="D", attended=True)),
    ev(c.ApplicationRefused(application_id="E", reason="no_places_left", campaign=2027)),
]


async def apply_in_one(
    sessions: async_sessionmaker[AsyncSession],
    events: list[CloudEvent],
    *,
    prefetched: bool = False,
) -> None:
    """`prefetched` as the consumer's fast path; without, as its replay of a batch."""
    async with SqlDashboardUnitOfWork(sessions) as uow:
        if prefetched:
            await uow.prefetch(events)
        for event in events:
            await HANDLERS[type(event.data)](event, uow)
        await uow.commit()


async def read_model(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    async with sessions() as session:
        return {
            "views": sorted(await read_views(session, 2027), key=lambda v: v.application_id),
            "points": await read_points(session, 2027),
            "messages": sorted(
                (m["channel"], m["template"], m["outcome"], m["count"])
                for m in await read_messages(session)
            ),
        }


async def erase(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        names = ", ".join(table.name for table in metadata.sorted_tables)
        await session.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
        await session.commit()


@pytest.mark.parametrize("prefetched", [False, True])
async def test_a_batch_in_one_transaction_gives_the_read_model_of_one_event_at_a_time(
    sessions: async_sessionmaker[AsyncSession], prefetched: bool
) -> None:
    for event in BEFORE + BATCH:
        await apply_in_one(sessions, [event])
    one_at_a_time = await read_model(sessions)

    await erase(sessions)
    await apply_in_one(sessions, BEFORE)
    with statements(sessions) as sent:
        await apply_in_one(sessions, BATCH, prefetched=prefetched)
    batched = await read_model(sessions)

    assert batched == one_at_a_time
    # The views read: one statement for the batch, or one per application without.
    assert sum("FOR UPDATE" in sql for sql in sent) == (1 if prefetched else 5)
    views = {view.application_id: view for view in batched["views"]}
    assert views["A"].complete and views["A"].holding == "accepted"
    assert views["B"].declined and views["B"].holding is None
    assert views["D"] == ApplicationView(
        "D",
        campaign=2027,
        level="M1",
        received=True,
        refusal_reason="incomplete_at_deadline",
        interviewed=True,
    )
    assert views["E"] == ApplicationView("E", campaign=2027, refusal_reason="no_places_left")
    assert [(p["at"], p["held"]) for p in batched["points"]] == [
        (day(26), 1),
        (day(26), 2),
        (day(27), 3),
        (day(27), 2),
    ]
    assert batched["messages"] == [
        ("email", "admitted", "sent", 2),
        ("email", "received", "sent", 3),
        ("sms", "admitted", "failed", 1),
    ]


async def test_a_prefetch_keeps_the_views_the_transaction_already_holds(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A view changed in the transaction (not yet written) is not replaced by its row."""
    await apply_in_one(sessions, BEFORE)
    completed = ev(c.ApplicationCompleted(application_id="A"))
    async with SqlDashboardUnitOfWork(sessions) as uow:
        await HANDLERS[type(completed.data)](completed, uow)
        await uow.prefetch([completed, received("B")])
        assert (await uow.views.get("A")).complete
        assert await uow.views.get("B") == ApplicationView("B")


async def test_a_batch_s_views_are_read_on_a_plan_made_for_the_batch(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A generic plan made while the table was small reads the whole table for each
    batch once it has grown: the views' lookup is planned for each batch, even where
    every other statement runs on its generic plan (as PostgreSQL chooses to once a
    generic plan looks no dearer than the custom ones)."""
    async with sessions() as session:
        database = await session.scalar(text("SELECT current_database()"))
        await session.execute(
            text(f'ALTER DATABASE "{database}" SET plan_cache_mode = force_generic_plan')
        )
        await session.commit()
    await sessions.kw["bind"].dispose()
    for batch in range(8):
        await apply_in_one(
            sessions, [received(f"P-{batch}"), received(f"Q-{batch}")], prefetched=True
        )
    async with sessions() as session:
        plans = (
            await session.execute(
                text(
                    "SELECT generic_plans, custom_plans FROM pg_prepared_statements"
                    " WHERE statement LIKE '%FROM application_view%FOR UPDATE'"
                )
            )
        ).all()
    assert plans, "the lookup was prepared on this connection"
    assert sum(row.generic_plans for row in plans) == 0
    assert sum(row.custom_plans for row in plans) >= 8


def counted(data: EventData, held: int, change: int) -> CloudEvent:
    """The event as selection publishes it now: the level's count after it, numbered."""
    update = {"campaign": 2027, "level": Level.M1, "places_held": held, "places_change": change}
    return ev(data.model_copy(update=update))


def promoted(a: str) -> s.Admitted:
    return s.Admitted(application_id=a, level="M1", offer_deadline=DEADLINE, from_waitlist=True)


# Two places: A and B offered, C waiting; A declines and C is promoted in one of
# selection's transactions, read in the other order (two partitions).
PROMOTION = [
    tick(26),
    received("A"),
    received("B"),
    received("C"),
    counted(admitted("A").data, 1, 1),
    counted(admitted("B").data, 2, 2),
    ev(s.Waitlisted(application_id="C", level="M1", rank=1, campaign=2027)),
    counted(promoted("C"), 2, 4),
    counted(s.OfferDeclined(application_id="A"), 1, 3),
]


@pytest.mark.parametrize("batched", [False, True])
async def test_a_promotion_read_before_the_decline_that_freed_its_place_is_within_capacity(
    sessions: async_sessionmaker[AsyncSession], batched: bool
) -> None:
    """The summary and the chart show selection's count: never three places of two, in
    a batch or one event at a time; the decline read late moves nothing."""
    capacities = {Level.M1: 2, Level.M2: 24}
    shown = []
    for events in [PROMOTION] if batched else [[event] for event in PROMOTION]:
        await apply_in_one(sessions, events, prefetched=batched)
        async with sessions() as session:
            level = (await build_summary(session, 2027, capacities, {}))["levels"]["M1"]
        shown.append((level["held"], level["places_left"]))
    async with sessions() as session:
        summary = await build_summary(session, 2027, capacities, {})
        stored = (await session.execute(text("SELECT * FROM level_places"))).mappings().all()
    assert [p["held"] for p in summary["places_over_time"]] == [1, 2, 2]
    assert all(held <= 2 and left >= 0 for held, left in shown), shown
    assert shown[-1] == (2, 0)
    assert [dict(row) for row in stored] == [
        {"campaign": 2027, "level": "M1", "places_change": 4, "places_held": 2}
    ]
