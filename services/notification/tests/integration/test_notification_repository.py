"""The handlers, the dispatcher and the repository on a real PostgreSQL (no broker)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

import pytest
from ifuno_notification.adapters.repository import recipient_row
from ifuno_notification.adapters.senders import (
    AbstractEmailSender,
    AbstractSmsSender,
    Email,
    SmtpEmailSender,
)
from ifuno_notification.adapters.tables import recipient
from ifuno_notification.domain.messages import Recipient
from ifuno_notification.entrypoints.service import MIGRATIONS_DIR
from ifuno_notification.service_layer.dispatcher import dispatch_due
from ifuno_notification.service_layer.handlers import (
    handle_application_erased,
    handle_candidate_event,
    handle_clock_advanced,
    handle_contact_recorded,
)
from ifuno_notification.service_layer.unit_of_work import SqlNotificationUnitOfWork
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import CloudEvent, EventData, Level, Regime, decode_event, new_event
from ifuno_shared.events import candidature as c
from ifuno_shared.events import selection as s
from ifuno_shared.events.notification import NotificationSent
from ifuno_shared.events.timeline import ClockAdvanced
from ifuno_shared.persistence import create_engine, outbox_table
from ifuno_shared.persistence.migrations import upgrade
from ifuno_tools.local import CapturingSmtpServer
from ifuno_tools.testing.database import generic_plan, migrated_sessions, statements
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

pytestmark = pytest.mark.integration

DEADLINE = datetime(2027, 5, 15, 23, 59, tzinfo=PARIS)
OFFER_DEADLINE = datetime(2027, 7, 2, 23, 59, tzinfo=PARIS)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with migrated_sessions(database_url, MIGRATIONS_DIR) as factory:
        yield factory


async def handle(sessions: async_sessionmaker[AsyncSession], event: CloudEvent) -> None:
    async with SqlNotificationUnitOfWork(sessions) as uow:
        if isinstance(event.data, ClockAdvanced):
            await handle_clock_advanced(event, uow)
        else:
            await handle_candidate_event(event, uow)
        await uow.commit()


def received(application_id: str, *, submitted_at: datetime) -> CloudEvent:
    return new_event(
        c.ApplicationReceived(
            application_id=application_id,
            campaign=2027,
            round="main",
            level="M2",
            regime="formation_continue",
            missing_documents=["job_description"],
            eligibility=c.Eligibility(eligible=True),
            candidate=c.Contact(
                candidate_id=f"C-{application_id}",
                first_name="Zoé",
                last_name="Maïté",
                email=f"{application_id.lower()}@example.org",
                sms_opt_in=False,
            ),
            submitted_at=submitted_at,
            submission_deadline=DEADLINE,
        ),
        subject=application_id,
    )


def about(application_id: str, data: EventData) -> CloudEvent:
    return new_event(data, subject=application_id)


def tick(now: datetime) -> CloudEvent:
    return new_event(ClockAdvanced(campaign=2027, now=now), subject="2027")


async def templates_of(
    sessions: async_sessionmaker[AsyncSession], application_id: str
) -> list[str]:
    async with SqlNotificationUnitOfWork(sessions) as uow:
        return [m["template"] for m in await uow.notifications.messages_of(application_id)]


class AcceptingEmail(AbstractEmailSender):
    def __init__(self) -> None:
        self.sent: list[Email] = []

    async def send(self, email: Email) -> None:
        self.sent.append(email)


class NoSms(AbstractSmsSender):
    async def send(self, message_id: str, to: str, text: str) -> None:
        raise AssertionError("nobody opted in")


async def test_one_tick_records_a_reminder_for_every_file_due_not_only_the_first(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    early = DEADLINE - timedelta(days=20)
    for application_id in ("R-1", "R-2", "R-3"):
        await handle(sessions, received(application_id, submitted_at=early))
    await handle(sessions, received("R-4", submitted_at=DEADLINE - timedelta(days=1)))
    reminder_tick = tick(DEADLINE - timedelta(days=2))
    await handle(sessions, reminder_tick)
    await handle(sessions, tick(DEADLINE - timedelta(days=1)))
    for application_id in ("R-1", "R-2", "R-3"):
        assert await templates_of(sessions, application_id) == [
            "application_received",
            "incomplete_reminder",
        ]
    assert await templates_of(sessions, "R-4") == ["application_received"]


async def test_the_offer_reminder_query_skips_answered_offers(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    for application_id in ("O-1", "O-2"):
        await handle(sessions, received(application_id, submitted_at=DEADLINE))
        admitted = s.Admitted(
            application_id=application_id,
            level="M2",
            offer_deadline=OFFER_DEADLINE,
            from_waitlist=False,
        )
        await handle(sessions, new_event(admitted, subject=application_id))
    await handle(sessions, new_event(s.OfferDeclined(application_id="O-2"), subject="O-2"))
    await handle(sessions, tick(OFFER_DEADLINE - timedelta(days=1)))
    await handle(sessions, tick(OFFER_DEADLINE - timedelta(hours=2)))
    assert (await templates_of(sessions, "O-1"))[-1] == "offer_reminder"
    assert (await templates_of(sessions, "O-1")).count("offer_reminder") == 1
    assert "offer_reminder" not in await templates_of(sessions, "O-2")


async def test_two_dispatchers_never_claim_the_same_message(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    for n in range(4):
        await handle(sessions, received(f"D-{n}", submitted_at=DEADLINE))
    async with (
        SqlNotificationUnitOfWork(sessions) as first,
        SqlNotificationUnitOfWork(sessions) as second,
    ):
        mine = (await first.notifications.claim_due(3, timedelta(minutes=5))).messages
        theirs = (await second.notifications.claim_due(3, timedelta(minutes=5))).messages
    assert len(mine) == 3 and len(theirs) == 1
    assert not {m.id for m in mine} & {m.id for m in theirs}


async def test_a_sent_message_is_listed_with_its_attempt_and_its_outcome_is_in_the_outbox(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await handle(sessions, received("S-1", submitted_at=DEADLINE))
    email = AcceptingEmail()
    claimed = await dispatch_due(lambda: SqlNotificationUnitOfWork(sessions), email, NoSms())
    assert claimed == 1
    async with SqlNotificationUnitOfWork(sessions) as uow:
        [listed] = await uow.notifications.messages_of("S-1")
        outbox = await uow.session.execute(select(outbox_table.c.type, outbox_table.c.key))
        rows = [tuple(row) for row in outbox]
    assert listed["id"] == email.sent[0].message_id
    assert (listed["status"], listed["attempts"], listed["address"]) == (
        "sent",
        1,
        "s-1@example.org",
    )
    assert [a["outcome"] for a in listed["delivery_attempts"]] == ["sent"]
    assert rows == [("ifuno.notification.sent.v1", "S-1")]


async def test_a_dispatch_batch_is_settled_together_with_one_outcome_event_each(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    for n in range(3):
        await handle(sessions, received(f"B-{n}", submitted_at=DEADLINE))
    email = AcceptingEmail()
    assert await dispatch_due(lambda: SqlNotificationUnitOfWork(sessions), email, NoSms()) == 3
    assert await dispatch_due(lambda: SqlNotificationUnitOfWork(sessions), email, NoSms()) == 0
    async with SqlNotificationUnitOfWork(sessions) as uow:
        listed = [(await uow.notifications.messages_of(f"B-{n}"))[0] for n in range(3)]
        outbox = await uow.session.execute(select(outbox_table.c.key))
        keys = sorted(key for (key,) in outbox)
    assert [(m["status"], m["attempts"]) for m in listed] == [("sent", 1)] * 3
    assert all(m["sent_at"] is not None for m in listed)
    assert [[a["outcome"] for a in m["delivery_attempts"]] for m in listed] == [["sent"]] * 3
    assert keys == ["B-0", "B-1", "B-2"]
    assert len(email.sent) == 3


async def test_the_claim_reads_the_messages_to_send_through_their_partial_index(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Statuses bound as parameters hid the index's predicate from the statement's
    generic plan: each claim scanned every message ever recorded."""
    await handle(sessions, received("P-1", submitted_at=DEADLINE))
    with statements(sessions) as sent:
        async with SqlNotificationUnitOfWork(sessions) as uow:
            await uow.notifications.claim_due(10, timedelta(minutes=5))
    [claim] = [sql for sql in sent if "SKIP LOCKED" in sql]
    assert "message_to_send" in await generic_plan(sessions, claim)


async def test_acceptances_go_with_their_events_in_one_statement_for_the_claim_only(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The dispatcher's commonest write: one statement, no transaction around it; a
    message another dispatcher took meanwhile is left alone, and so is its event."""
    for n in range(3):
        await handle(sessions, received(f"A-{n}", submitted_at=DEADLINE))
    async with SqlNotificationUnitOfWork(sessions) as uow:
        claim = await uow.notifications.claim_due(10, timedelta(minutes=5))
        await uow.commit()
    first, second, taken = claim.messages
    async with sessions() as session:
        await session.execute(
            text("UPDATE message SET claim = 'another' WHERE id = :id"), {"id": taken.id}
        )
        await session.commit()
    events = [
        (
            pending.id,
            new_event(
                NotificationSent(
                    application_id=pending.outgoing.application_id,
                    channel="email",
                    template=pending.outgoing.template,
                    cause_event_id=pending.outgoing.cause_event_id,
                ),
                subject=pending.outgoing.application_id,
            ),
        )
        for pending in (second, taken, first)
    ]
    with statements(sessions) as sent:
        recorded = await SqlNotificationUnitOfWork(sessions).record_sent(claim.token, events)
    assert len(sent) == 1
    assert sorted(recorded) == sorted([first.id, second.id])
    async with SqlNotificationUnitOfWork(sessions) as uow:
        outbox = await uow.session.execute(
            select(outbox_table.c.event_id, outbox_table.c.value).order_by(outbox_table.c.id)
        )
        rows = outbox.all()
        listed = {
            m["id"]: m for n in range(3) for m in await uow.notifications.messages_of(f"A-{n}")
        }
    assert [decode_event(value) for _, value in rows] == [events[0][1], events[2][1]]
    for pending in (first, second):
        message = listed[pending.id]
        assert (message["status"], message["attempts"]) == ("sent", 1)
        assert [a["outcome"] for a in message["delivery_attempts"]] == ["sent"]
    assert (listed[taken.id]["status"], listed[taken.id]["attempts"]) == ("sending", 0)
    assert listed[taken.id]["delivery_attempts"] == []


async def test_several_events_of_one_application_in_one_transaction_see_each_other(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """As a consumer batch applies them: the recipient read once is kept up to date."""
    submitted = received("T-1", submitted_at=DEADLINE)
    completed = new_event(c.ApplicationCompleted(application_id="T-1"), subject="T-1")
    refused = new_event(
        s.Refused(application_id="T-1", level="M2", reason="below_shortlist_threshold"),
        subject="T-1",
    )
    async with SqlNotificationUnitOfWork(sessions) as uow:
        for event in (submitted, completed, refused):
            await handle_candidate_event(event, uow)
        await uow.commit()
    async with SqlNotificationUnitOfWork(sessions) as uow:
        who = await uow.notifications.get("T-1")
    assert who is not None and who.complete and who.closed
    assert sorted(await templates_of(sessions, "T-1")) == [
        "application_completed",
        "application_received",
        "selection_refused",
    ]


async def test_an_event_parked_beside_an_existing_recipient_goes_out_with_the_next_one(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A park that raced the recipient's creation (two transactions) is not stranded."""
    await handle(sessions, received("P-1", submitted_at=DEADLINE))
    stranded = new_event(s.Waitlisted(application_id="P-1", level="M2", rank=3), subject="P-1")
    async with SqlNotificationUnitOfWork(sessions) as uow:
        await uow.notifications.park("P-1", stranded)
        await uow.commit()
    completed = new_event(c.ApplicationCompleted(application_id="P-1"), subject="P-1")
    await handle(sessions, completed)
    assert await templates_of(sessions, "P-1") == [
        "application_received",
        "application_completed",
        "waitlisted",
    ]
    async with SqlNotificationUnitOfWork(sessions) as uow:
        assert await uow.notifications.unpark("P-1") == []


def contact_of(application_id: str) -> CloudEvent:
    return new_event(
        c.ContactRecorded(
            application_id=application_id,
            campaign=2027,
            level="M2",
            regime="formation_continue",
            candidate=c.Contact(
                candidate_id=f"C-{application_id}",
                first_name="Zoé",
                last_name="Maïté",
                email=f"{application_id.lower()}@example.org",
                sms_opt_in=False,
            ),
        ),
        subject=application_id,
    )


Step = Callable[[SqlNotificationUnitOfWork], Awaitable[None]]


async def in_racing_transactions(
    sessions: async_sessionmaker[AsyncSession], first: Step, second: Step
) -> None:
    """`first` in a transaction; `second` in another, started before the first commits
    (as two instances do): it reads, or waits for a lock, then commits after it."""

    async def run_second() -> None:
        async with SqlNotificationUnitOfWork(sessions) as uow:
            await second(uow)
            await uow.commit()

    async with SqlNotificationUnitOfWork(sessions) as uow:
        await first(uow)
        racing = asyncio.create_task(run_second())
        await asyncio.sleep(0.5)  # the second has read (or waits for the application)
        await uow.commit()
    await racing


@pytest.mark.parametrize("first", ["event", "contact"])
async def test_the_contact_and_an_event_in_two_concurrent_transactions_strand_nothing(
    sessions: async_sessionmaker[AsyncSession], first: str
) -> None:
    """Two instances (issue 17): one reads the contact, the other an event about the
    same application, each in its own transaction before the other commits. Neither
    may conclude "no recipient, nothing parked" from what the other has not committed
    (the event then stayed parked for ever, its email never sent)."""
    application_id = f"K-{first}"
    with_contact = received(application_id, submitted_at=DEADLINE - timedelta(days=20))
    event = about(application_id, with_contact.data.model_copy(update={"candidate": None}))
    handlers = {
        "event": lambda uow: handle_candidate_event(event, uow),
        "contact": lambda uow: handle_contact_recorded(contact_of(application_id), uow),
    }
    second = "contact" if first == "event" else "event"
    await in_racing_transactions(sessions, handlers[first], handlers[second])
    assert await templates_of(sessions, application_id) == ["application_received"]
    async with SqlNotificationUnitOfWork(sessions) as uow:
        assert await uow.notifications.unpark(application_id) == []


@pytest.mark.parametrize("first", ["erasure", "contact"])
async def test_contact_details_read_during_an_erasure_never_bring_the_recipient_back(
    sessions: async_sessionmaker[AsyncSession], first: str
) -> None:
    """The erasure and the contact details (compacted topic, read again after a
    rebalance) in two concurrent transactions: whichever commits first, nothing of the
    candidate is left once both have."""
    application_id = f"E-{first}"  # no recipient yet: no row to lock
    erased = new_event(c.ApplicationErased(application_id=application_id), subject=application_id)
    handlers = {
        "erasure": lambda uow: handle_application_erased(erased, uow),
        "contact": lambda uow: handle_contact_recorded(contact_of(application_id), uow),
    }
    second = "contact" if first == "erasure" else "erasure"
    await in_racing_transactions(sessions, handlers[first], handlers[second])
    async with SqlNotificationUnitOfWork(sessions) as uow:
        assert await uow.notifications.get(application_id) is None
        assert await uow.notifications.erased(application_id)
    assert await templates_of(sessions, application_id) == []


async def test_a_message_recorded_twice_in_one_transaction_or_across_two_is_kept_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Without the inbox (a replay): the unique key holds for deferred writes too."""
    event = received("U-1", submitted_at=DEADLINE)
    async with SqlNotificationUnitOfWork(sessions) as uow:
        await handle_candidate_event(event, uow)
        await handle_candidate_event(event, uow)
        await uow.commit()
    await handle(sessions, event)
    assert await templates_of(sessions, "U-1") == ["application_received"]


async def test_a_prefetched_batch_gives_what_one_event_per_transaction_gives(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Recipients stored before (one with a stranded parked event), new ones, a parked
    event waiting for its recipient, and one parked and told within the batch, read
    ahead in one batch as the consumer does."""

    def batch(prefix: str) -> tuple[list[CloudEvent], list[CloudEvent]]:
        def waitlisted(name: str) -> CloudEvent:
            data = s.Waitlisted(application_id=f"{prefix}-{name}", level="M2", rank=2)
            return new_event(data, subject=data.application_id)

        def completed(name: str) -> CloudEvent:
            data = c.ApplicationCompleted(application_id=f"{prefix}-{name}")
            return new_event(data, subject=data.application_id)

        before = [
            received(f"{prefix}-stored", submitted_at=DEADLINE),
            received(f"{prefix}-stranded", submitted_at=DEADLINE),
            waitlisted("waiting"),
        ]
        during = [
            completed("stored"),
            received(f"{prefix}-new", submitted_at=DEADLINE),
            completed("new"),
            completed("stranded"),
            received(f"{prefix}-waiting", submitted_at=DEADLINE),
            waitlisted("parked-in-batch"),
            received(f"{prefix}-parked-in-batch", submitted_at=DEADLINE),
        ]
        return before, during

    async def run(prefix: str, prefetched: bool) -> dict[str, list[str]]:
        before, during = batch(prefix)
        for event in before:
            await handle(sessions, event)
        async with SqlNotificationUnitOfWork(sessions) as uow:
            stranded = s.Waitlisted(application_id=f"{prefix}-stranded", level="M2", rank=5)
            await uow.notifications.park(
                stranded.application_id, new_event(stranded, subject=stranded.application_id)
            )
            await uow.commit()
        if prefetched:
            async with SqlNotificationUnitOfWork(sessions) as uow:
                await uow.prefetch(during)
                for event in during:
                    await handle_candidate_event(event, uow)
                await uow.commit()
        else:
            for event in during:
                await handle(sessions, event)
        names = ("stored", "stranded", "new", "waiting", "parked-in-batch")
        return {n: sorted(await templates_of(sessions, f"{prefix}-{n}")) for n in names}

    one_by_one = await run("Q1", prefetched=False)
    assert await run("Q2", prefetched=True) == one_by_one
    assert one_by_one == {
        "stored": ["application_completed", "application_received"],
        "stranded": ["application_completed", "application_received", "waitlisted"],
        "new": ["application_completed", "application_received"],
        "waiting": ["application_received", "waitlisted"],
        "parked-in-batch": ["application_received", "waitlisted"],
    }


async def test_contacts_read_in_a_batch_take_their_parked_events_in_one_statement(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Under a burst the contact details often come a delivery after the events: the
    batch's parked events are read with its recipients, not one statement (and one
    flush of the batch's writes) per contact."""
    applications = [f"B-{n}" for n in range(5)]
    for application_id in applications:
        with_contact = received(application_id, submitted_at=DEADLINE - timedelta(days=20))
        event = about(application_id, with_contact.data.model_copy(update={"candidate": None}))
        await handle(sessions, event)
        await handle(
            sessions, about(application_id, c.ApplicationCompleted(application_id=application_id))
        )
    contacts = [contact_of(application_id) for application_id in applications]
    with statements(sessions) as sent:
        async with SqlNotificationUnitOfWork(sessions) as uow:
            await uow.prefetch(contacts)
            for contact in contacts:
                await handle_contact_recorded(contact, uow)
            await uow.commit()

    touching_parked = [sql for sql in sent if "parked_event" in sql]
    assert len(touching_parked) == 2, touching_parked  # read once, deleted once
    for application_id in applications:
        assert sorted(await templates_of(sessions, application_id)) == [
            "application_completed",
            "application_received",
        ]
        async with SqlNotificationUnitOfWork(sessions) as uow:
            assert await uow.notifications.unpark(application_id) == []


async def test_a_batch_goes_over_several_connections_each_candidate_in_order(
    sessions: async_sessionmaker[AsyncSession], smtp_server: CapturingSmtpServer
) -> None:
    for n in range(6):
        await handle(sessions, received(f"L-{n}", submitted_at=DEADLINE))
        completed = c.ApplicationCompleted(application_id=f"L-{n}")
        await handle(sessions, new_event(completed, subject=f"L-{n}"))
    smtp = SmtpEmailSender(smtp_server.host, smtp_server.port, "Master IFUNO <ifuno@example.org>")
    factory = lambda: SqlNotificationUnitOfWork(sessions)  # noqa: E731
    assert await dispatch_due(factory, smtp, NoSms(), connections=3) == 12
    assert await dispatch_due(factory, smtp, NoSms(), connections=3) == 0
    assert len({mail.peer for mail in smtp_server.messages}) == 3
    for n in range(6):
        subjects = [str(m["Subject"]) for m in smtp_server.to(f"l-{n}@example.org")]
        assert len(subjects) == 2 and "reçue" in subjects[0] and "complet" in subjects[1]
    async with SqlNotificationUnitOfWork(sessions) as uow:
        for n in range(6):
            listed = await uow.notifications.messages_of(f"L-{n}")
            assert [(m["status"], m["attempts"]) for m in listed] == [("sent", 1)] * 2


async def test_the_reminder_queries_find_exactly_the_recipients_the_domain_says_are_due(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The SQL only compares the clock with the window the domain saved: around every
    boundary, it picks the same recipients as `Recipient.*_reminder_due`."""
    opens = DEADLINE - timedelta(days=3)
    files = {
        "W-early": opens - timedelta(days=5),
        "W-at-opening": opens,
        "W-late": opens + timedelta(minutes=1),
        "W-complete": opens - timedelta(days=5),
    }
    for application_id, submitted_at in files.items():
        await handle(sessions, received(application_id, submitted_at=submitted_at))
    await handle(sessions, about("W-complete", c.ApplicationCompleted(application_id="W-complete")))
    for application_id in ("W-early", "W-complete"):
        admitted = s.Admitted(
            application_id=application_id,
            level="M2",
            offer_deadline=OFFER_DEADLINE,
            from_waitlist=False,
        )
        await handle(sessions, about(application_id, admitted))
    offer_opens = OFFER_DEADLINE - timedelta(days=2)
    instants = [
        opens - timedelta(microseconds=1),
        opens,
        DEADLINE - timedelta(microseconds=1),
        DEADLINE,
        offer_opens - timedelta(microseconds=1),
        offer_opens,
        OFFER_DEADLINE - timedelta(microseconds=1),
        OFFER_DEADLINE,
    ]
    async with SqlNotificationUnitOfWork(sessions) as uow:
        everyone = await uow.notifications.get_many(sorted(files))
        for now in instants:
            assert await uow.notifications.incomplete_reminders_due(now) == [
                who.application_id for who in everyone if who.incomplete_reminder_due(now)
            ]
            assert await uow.notifications.offer_reminders_due(now) == [
                who.application_id for who in everyone if who.offer_reminder_due(now)
            ]
        assert await uow.notifications.incomplete_reminders_due(opens) == [
            "W-at-opening",
            "W-early",
        ]
        assert await uow.notifications.offer_reminders_due(offer_opens) == [
            "W-complete",
            "W-early",
        ]


async def test_the_second_revision_gives_recipients_stored_before_it_their_windows(
    database_url: str,
) -> None:
    """A database of the first revision, as it was (no windows, the old indexes), with
    recipients: the upgrade adds the columns and fills them by the domain's rule."""
    await asyncio.to_thread(upgrade, database_url, MIGRATIONS_DIR, "0001")
    due_file = Recipient(
        application_id="M-1",
        campaign=2027,
        level=Level.M2,
        regime=Regime.FORMATION_CONTINUE,
        contact=c.Contact(
            candidate_id="C-M-1", first_name="Zoé", last_name="Maïté", email="m-1@example.org"
        ),
        submitted_at=DEADLINE - timedelta(days=20),
        submission_deadline=DEADLINE,
    )
    complete = dataclasses.replace(due_file, application_id="M-2", complete=True)
    offer = dataclasses.replace(
        complete, application_id="M-3", offer_open=True, offer_deadline=OFFER_DEADLINE
    )
    windows = ("incomplete_reminder_window", "offer_reminder_window")
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            for statement in (
                "DROP INDEX incomplete_reminder_waiting",
                "DROP INDEX offer_reminder_waiting",
                *(f"ALTER TABLE recipient DROP COLUMN {column}" for column in windows),
                "CREATE INDEX incomplete_reminder_pending ON recipient (submission_deadline)"
                " WHERE NOT complete AND NOT closed AND NOT incomplete_reminded",
                "CREATE INDEX offer_reminder_pending ON recipient (offer_deadline)"
                " WHERE offer_open",
            ):
                await connection.execute(text(statement))
            rows = [recipient_row(who) for who in (due_file, complete, offer)]
            await connection.execute(
                recipient.insert(),
                [{k: v for k, v in row.items() if k not in windows} for row in rows],
            )
    finally:
        await engine.dispose()
    async with (
        migrated_sessions(database_url, MIGRATIONS_DIR) as factory,
        SqlNotificationUnitOfWork(factory) as uow,
    ):
        repository = uow.notifications
        assert await repository.incomplete_reminders_due(DEADLINE - timedelta(days=1)) == ["M-1"]
        assert await repository.offer_reminders_due(OFFER_DEADLINE - timedelta(days=1)) == ["M-3"]
        indexes = await uow.session.execute(
            text("SELECT indexname FROM pg_indexes WHERE tablename = 'recipient'")
        )
        assert {"incomplete_reminder_waiting", "offer_reminder_waiting"} <= set(indexes.scalars())
