"""The repository on a real PostgreSQL, as a consumer batch uses it: several events
in one transaction, reads kept for the transaction, writes seen by later events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from ifuno_candidature.domain.windows import RoundWindow
from ifuno_candidature.entrypoints.service import MIGRATIONS_DIR
from ifuno_candidature.service_layer.handlers import (
    handle_application_submitted,
    handle_document_uploaded,
)
from ifuno_candidature.service_layer.unit_of_work import SqlCandidatureUnitOfWork
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import Round, new_event
from ifuno_shared.events.portal import (
    ApplicationSubmitted,
    Candidate,
    Diploma,
    Document,
    DocumentUploaded,
)
from ifuno_shared.events.timeline import ClockAdvanced
from ifuno_shared.persistence import create_engine, create_session_factory
from ifuno_shared.persistence.migrations import upgrade_async
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

pytestmark = pytest.mark.integration

SUBMITTED_AT = datetime(2027, 5, 3, 10, 0, tzinfo=PARIS)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await upgrade_async(database_url, MIGRATIONS_DIR)
    engine = create_engine(database_url)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


def document(kind: str, application_id: str) -> Document:
    return Document(
        kind=kind,
        document_id=f"D-{application_id}-{kind}",
        filename=f"{kind}.pdf",
        content_type="application/pdf",
        size_bytes=5000,
        sha256="3" * 64,
    )


def submitted(application_id: str, kinds: tuple[str, ...]) -> ApplicationSubmitted:
    return ApplicationSubmitted(
        application_id=application_id,
        campaign=2027,
        level="M1",
        regime="formation_initiale",
        candidate=Candidate(
            candidate_id=f"C-{application_id}",
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
        upload = DocumentUploaded(application_id="K-1", document=document("diploma", "K-1"))
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
