"""The repository on a real PostgreSQL, as a consumer batch uses it: several events
in one transaction, reads kept for the transaction, writes seen by later events."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from ifuno_candidature.adapters.tables import application
from ifuno_candidature.adapters.tables import document as document_table
from ifuno_candidature.domain.model import RefusalReason, Status
from ifuno_candidature.domain.windows import RoundWindow
from ifuno_candidature.entrypoints.service import MIGRATIONS_DIR
from ifuno_candidature.service_layer.handlers import (
    HANDLERS,
    handle_application_submitted,
    handle_document_uploaded,
)
from ifuno_candidature.service_layer.unit_of_work import SqlCandidatureUnitOfWork
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import CloudEvent, EventData, Phase, Round, Topic, new_event
from ifuno_shared.events import candidature as out
from ifuno_shared.events.portal import (
    ApplicationSubmitted,
    ApplicationWithdrawn,
    Candidate,
    Diploma,
    Document,
    DocumentUploaded,
)
from ifuno_shared.events.timeline import ClockAdvanced, PhaseStarted
from ifuno_tools.local import PostgresAdmin
from ifuno_tools.testing.database import generic_plan, migrated_sessions, statements
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

pytestmark = pytest.mark.integration

SUBMITTED_AT = datetime(2027, 5, 3, 10, 0, tzinfo=PARIS)
UPLOADED_AT = datetime(2027, 5, 4, 18, 0, tzinfo=PARIS)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with migrated_sessions(database_url, MIGRATIONS_DIR) as factory:
        yield factory


@pytest.fixture
async def other_sessions(
    postgres: PostgresAdmin,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A second fresh database, to apply the same events another way."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    url = await postgres.create_database(name)
    try:
        async with migrated_sessions(url, MIGRATIONS_DIR) as factory:
            yield factory
    finally:
        await postgres.drop_database(name)


def document(kind: str, application_id: str, content_type: str = "application/pdf") -> Document:
    return Document(
        kind=kind,
        document_id=f"D-{application_id}-{kind}",
        filename=f"{kind}.pdf",
        content_type=content_type,
        size_bytes=5000,
        sha256="3" * 64,
    )


def submitted(
    application_id: str, kinds: tuple[str, ...], candidate_id: str | None = None
) -> ApplicationSubmitted:
    return ApplicationSubmitted(
        application_id=application_id,
        campaign=2027,
        level="M1",
        regime="formation_initiale",
        candidate=Candidate(
            candidate_id=candidate_id or f"C-{application_id}",
            first_name="Loïc",
            last_name="Noël",
            email=f"{application_id.lower()}@example.org",
            sms_opt_in=False,
        ),
        employed=False,
        highest_diploma=Diploma(level="bac+3", field="lettres", title="Licence"),
        vapp=False,
        training_experience_years=0,
        documents=[document(kind, application_id) for kind in kinds],
        submitted_at=SUBMITTED_AT,
    )


async def test_a_submission_and_an_upload_in_one_transaction_keep_each_document_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with SqlCandidatureUnitOfWork(sessions) as uow:
        for application_id in ("K-1", "K-2"):
            data = submitted(application_id, ("cv", "cover_letter"))
            await handle_application_submitted(new_event(data, subject=application_id), uow)
        upload = DocumentUploaded(
            application_id="K-1", document=document("diploma", "K-1"), uploaded_at=UPLOADED_AT
        )
        await handle_document_uploaded(new_event(upload, subject="K-1"), uow)
        await uow.commit()
    async with SqlCandidatureUnitOfWork(sessions) as uow:
        first = await uow.applications.get("K-1")
        second = await uow.applications.get("K-2")
    assert first is not None and second is not None
    assert sorted(d.document.kind for d in first.documents) == ["cover_letter", "cv", "diploma"]
    assert sorted(d.document.kind for d in second.documents) == ["cover_letter", "cv"]
    assert first.missing_documents() == [] and second.missing_documents() == ["diploma"]


async def test_windows_and_clock_read_once_follow_the_transactions_own_changes(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    extended = RoundWindow(
        Round.MAIN, datetime(2027, 4, 1, tzinfo=PARIS), datetime(2027, 6, 1, tzinfo=PARIS)
    )
    async with SqlCandidatureUnitOfWork(sessions) as uow:
        before = await uow.applications.windows(2027)
        assert extended not in before
        await uow.applications.set_window(2027, extended)
        assert extended in await uow.applications.windows(2027)
        assert await uow.clock.now() is None
        moved = datetime(2027, 5, 20, 9, 0, tzinfo=PARIS)
        await uow.clock.advance(ClockAdvanced(campaign=2027, now=moved))
        assert await uow.clock.now() == moved
        await uow.commit()
    async with SqlCandidatureUnitOfWork(sessions) as uow:
        assert extended in await uow.applications.windows(2027)
        assert await uow.clock.now() == moved


COMPLETE = ("cv", "cover_letter", "diploma")


def upload(application_id: str, kind: str, content_type: str = "application/pdf") -> CloudEvent:
    data = DocumentUploaded(
        application_id=application_id,
        document=document(kind, application_id, content_type),
        uploaded_at=UPLOADED_AT,
    )
    return new_event(data, subject=application_id)


def submission(
    application_id: str, kinds: tuple[str, ...], candidate_id: str | None = None
) -> CloudEvent:
    return new_event(submitted(application_id, kinds, candidate_id), subject=application_id)


def withdrawal(application_id: str) -> CloudEvent:
    data = ApplicationWithdrawn(application_id=application_id, reason="autre projet")
    return new_event(data, subject=application_id)


STORED_BEFORE = [
    submission("S-1", COMPLETE),
    submission("S-2", ("cv",)),
    submission("S-3", COMPLETE, candidate_id="C-W"),
    submission("S-4", ("cv",), candidate_id="C-L"),
]

BATCH = [
    submission("N-1", COMPLETE),
    submission("N-2", ("cv",)),
    submission("N-3", ("cover_letter",), candidate_id="C-X"),
    submission("N-4", ("cv",), candidate_id="C-X"),  # the same candidate: a duplicate
    submission("S-1", ("cv",)),  # received before: ignored
    upload("N-2", "cover_letter"),  # submitted earlier in the batch
    upload("N-2", "diploma"),
    upload("S-2", "diploma"),  # stored before the batch
    upload("S-2", "cover_letter", content_type="text/plain"),  # rejected, kept for the record
    upload("N-4", "diploma"),  # refused in this batch: rejected
    withdrawal("S-3"),
    submission("N-5", COMPLETE, candidate_id="C-W"),  # after the withdrawal: not a duplicate
    submission("N-6", COMPLETE, candidate_id="C-L"),  # S-4 is live: a duplicate
    submission("N-7", ("cv",)),
]

EXTENDED = new_event(
    PhaseStarted(
        campaign=2027,
        phase=Phase.MAIN_SUBMISSIONS_OPEN,
        starts_at=datetime(2027, 4, 26, 9, 0, tzinfo=PARIS),
        ends_at=datetime(2027, 5, 22, 23, 59, tzinfo=PARIS),
    ),
    subject="2027",
)

# The deadline moves mid-batch (files read before, saved after, show the move), then
# passes with the grace period: the incomplete files close, those of the batch with
# those stored before.
WITH_A_DEADLINE = [
    *BATCH[:4],
    EXTENDED,
    upload("N-3", "cv"),
    *BATCH[4:],
    new_event(
        ClockAdvanced(campaign=2027, now=datetime(2027, 5, 23, 0, 10, 30, tzinfo=PARIS)),
        subject="2027",
    ),
]


async def apply_one_per_transaction(
    sessions: async_sessionmaker[AsyncSession], events: list[CloudEvent]
) -> list[CloudEvent]:
    """As the consumer replays a batch: one transaction per event, no prefetch."""
    published: list[CloudEvent] = []
    for event in events:
        async with SqlCandidatureUnitOfWork(sessions) as uow:
            await HANDLERS[type(event.data)](event, uow)
            await uow.commit()
            published += uow.published
    return published


async def apply_as_a_batch(
    sessions: async_sessionmaker[AsyncSession], events: list[CloudEvent], prefetch: bool
) -> list[CloudEvent]:
    """As the consumer's fast path: one transaction, prefetch, then every handler."""
    async with SqlCandidatureUnitOfWork(sessions) as uow:
        if prefetch:
            await uow.prefetch(events)
        for event in events:
            await HANDLERS[type(event.data)](event, uow)
        await uow.commit()
    return uow.published


async def stored(sessions: async_sessionmaker[AsyncSession]) -> dict[str, Any]:
    """Every application row, and every document row but its serial id, in order."""
    async with sessions() as session:
        applications = await session.execute(select(application).order_by("application_id"))
        documents = await session.execute(
            select(*(c for c in document_table.c if c.name != "id")).order_by(
                document_table.c.application_id, document_table.c.id
            )
        )
        return {
            "applications": [dict(row) for row in applications.mappings()],
            "documents": [dict(row) for row in documents.mappings()],
        }


@pytest.mark.parametrize("prefetch", [True, False], ids=["prefetched", "not prefetched"])
async def test_a_batch_does_what_one_transaction_per_event_does(
    sessions: async_sessionmaker[AsyncSession],
    other_sessions: async_sessionmaker[AsyncSession],
    prefetch: bool,
) -> None:
    for database in (sessions, other_sessions):
        await apply_one_per_transaction(database, STORED_BEFORE)

    one_by_one = await apply_one_per_transaction(other_sessions, WITH_A_DEADLINE)
    batched = await apply_as_a_batch(sessions, WITH_A_DEADLINE, prefetch)

    assert await stored(sessions) == await stored(other_sessions)
    assert [(e.subject, e.data) for e in batched] == [(e.subject, e.data) for e in one_by_one]
    published: dict[str | None, list[EventData]] = {}
    for event in (e for e in batched if e.data.topic is Topic.CANDIDATURE):
        published.setdefault(event.subject, []).append(event.data)
    assert {subject: [type(data) for data in events] for subject, events in published.items()} == {
        "N-1": [out.ApplicationReceived, out.ApplicationCompleted, out.SubmissionDeadlineMoved],
        "N-2": [out.ApplicationReceived, out.SubmissionDeadlineMoved, out.ApplicationCompleted],
        "N-3": [out.ApplicationReceived, out.SubmissionDeadlineMoved, out.ApplicationRefused],
        "N-4": [out.ApplicationRefused, out.DocumentRejected],
        "S-1": [out.SubmissionDeadlineMoved],
        "S-2": [out.SubmissionDeadlineMoved, out.DocumentRejected, out.ApplicationRefused],
        "S-3": [out.SubmissionDeadlineMoved, out.ApplicationWithdrawn],
        "N-5": [out.ApplicationReceived, out.ApplicationCompleted],
        "N-6": [out.ApplicationRefused],
        "N-7": [out.ApplicationReceived, out.ApplicationRefused],
        "S-4": [out.SubmissionDeadlineMoved, out.ApplicationRefused],
    }
    for duplicate in ("N-4", "N-6"):
        refused = published[duplicate][0]
        assert isinstance(refused, out.ApplicationRefused)
        assert refused.reason == RefusalReason.DUPLICATE_APPLICATION.value
    async with SqlCandidatureUnitOfWork(sessions) as uow:
        moved = await uow.applications.get("N-3")
        kept = await uow.applications.get("S-2")
    assert moved is not None and moved.submission_deadline == EXTENDED.data.ends_at
    assert kept is not None and kept.status is Status.REFUSED
    assert [(d.document.kind, d.accepted) for d in kept.documents] == [
        ("cv", True),
        ("diploma", True),
        ("cover_letter", False),
    ]


async def test_a_prefetched_batch_takes_the_same_few_statements_whatever_its_size(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await apply_one_per_transaction(sessions, STORED_BEFORE)
    more = [submission(f"M-{n}", COMPLETE if n % 2 else ("cv",)) for n in range(100)]
    with statements(sessions) as sent:
        await apply_as_a_batch(sessions, [*BATCH, *more], prefetch=True)
    # Read ahead: the erased markers, the applications, their documents, the
    # candidates' live files; the windows and the clock once; at the commit: one upsert,
    # one delete and one insert of documents, and the outbox.
    assert len(sent) <= 10, sent


async def test_the_live_files_are_looked_up_by_candidate_in_their_partial_index(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The plan PostgreSQL keeps for a prepared statement is made when the service
    starts, on empty tables, and a burst runs on it: it must look the batch's candidates
    up, not read the campaign's files and compare each with them (statuses bound as
    parameters, then the campaign in the statement, each made it do that)."""
    await apply_one_per_transaction(sessions, STORED_BEFORE)
    with statements(sessions) as sent:
        await apply_as_a_batch(sessions, BATCH, prefetch=True)
    [live] = [sql for sql in sent if "application.candidate_id = ANY" in sql]
    looked_up = "Index Cond: ((candidate_id)::text = ANY"
    assert looked_up in await generic_plan(sessions, live)
    async with sessions() as session, session.begin():
        await session.execute(text("TRUNCATE application CASCADE"))
    assert looked_up in await generic_plan(sessions, live)


async def test_a_clock_tick_closes_the_late_files_in_a_few_statements_whatever_their_number(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await apply_as_a_batch(sessions, [submission(f"L-{n}", ("cv",)) for n in range(50)], True)
    past_the_deadline = ClockAdvanced(campaign=2027, now=datetime(2027, 5, 16, 0, 10, tzinfo=PARIS))
    with statements(sessions) as sent:
        published = await apply_as_a_batch(
            sessions, [new_event(past_the_deadline, subject="2027")], prefetch=True
        )
    assert [(e.subject, type(e.data)) for e in published] == [
        (f"L-{n}", out.ApplicationRefused) for n in sorted(range(50), key=str)
    ]
    # The clock; the late files, then them and their documents locked; the campaigns
    # holding personal data (retention); at the commit: one upsert, one delete and one
    # insert of documents, and the outbox.
    assert len(sent) <= 10, sent


async def test_a_change_not_saved_is_not_seen_by_the_transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await apply_one_per_transaction(sessions, [submission("S-1", COMPLETE)])
    async with SqlCandidatureUnitOfWork(sessions) as uow:
        await uow.prefetch([withdrawal("S-1")])
        read = await uow.applications.get("S-1")
        assert read is not None and read.withdraw(None)
        read.documents.clear()
        again = await uow.applications.get("S-1")
    assert again is not None and again.status is Status.COMPLETE
    assert len(again.documents) == 3 and again.events == []
