"""The consumer on in-memory doubles: whatever the records, `consume` returns, and
each record ends applied, duplicate, ignored or dead-lettered; no producer speaks
for another; only outages are waited out, with growing waits; and no error's values
reach a dead letter or a log line."""

from __future__ import annotations

import json
import logging
from typing import Any

import hypothesis
import pytest
from aiokafka import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ifuno_shared.events import CloudEvent, Topic, encode_event, new_event
from ifuno_shared.events.candidature import ApplicationReceived, Eligibility
from ifuno_shared.events.portal import Document, DocumentUploaded, OfferAnswered
from ifuno_shared.events.timeline import ClockAdvanced
from ifuno_shared.messaging import (
    Outcome,
    Subscription,
    SubscriptionConsumer,
    describe,
    handlers_by_annotation,
    is_outage,
)
from ifuno_shared.messaging.deadletter import DeadLetterWriter
from ifuno_shared.messaging.faults import through_outages, traceback_without_values
from ifuno_tools.testing.fakes import FakeUnitOfWork
from jinja2 import TemplateNotFound
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError

pytestmark = pytest.mark.unit

SECRET = "Zoé Secrète"
"""Stands for a candidate's data: it must never reach a dead letter or a log line."""

FAILS = "ALWAYS-FAILS"
OUTAGE_ONCE = "OUTAGE-ONCE"
SQL_ERROR = "SQL-ERROR"
TEMPLATE_MISSING = "TEMPLATE-MISSING"


class EffectsUnitOfWork(FakeUnitOfWork):
    """A fake whose handler effects are transactional, as the database's are."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: list[str] = []
        self.applied: list[str] = []

    async def _commit(self) -> None:
        await super()._commit()
        self.applied += self.pending
        self.pending = []

    async def rollback(self) -> None:
        await super().rollback()
        self.pending = []


class RecordingDeadLetters(DeadLetterWriter):
    def __init__(self) -> None:
        self.written: list[tuple[ConsumerRecord[bytes, bytes], str]] = []

    async def write(
        self, record: ConsumerRecord[bytes, bytes], *, reason: str, consumer: str
    ) -> None:
        self.written.append((record, reason))


class SqlError(Exception):
    """What asyncpg raises for a refused row: the message quotes the row."""

    sqlstate = "23514"


def failing_sql() -> DBAPIError:
    orig = SqlError(f"new row violates check constraint\nDETAIL: Failing row contains ({SECRET})")
    return IntegrityError("INSERT INTO candidate VALUES ($1)", (SECRET,), orig)


def build(
    *, max_attempts: int = 3
) -> tuple[SubscriptionConsumer, EffectsUnitOfWork, RecordingDeadLetters]:
    uow = EffectsUnitOfWork()
    outage_seen: set[str] = set()

    async def on_upload(event: CloudEvent[DocumentUploaded], unit: Any) -> None:
        filename = event.data.document.filename
        if filename == FAILS:
            raise RuntimeError(f"the handler fails for {SECRET}")
        if filename == SQL_ERROR:
            raise failing_sql()
        if filename == TEMPLATE_MISSING:
            raise TemplateNotFound(f"{SECRET}.txt")
        if filename == OUTAGE_ONCE and event.id not in outage_seen:
            outage_seen.add(event.id)
            raise ConnectionRefusedError(f"refused while writing {SECRET}")
        unit.pending.append(event.id)

    async def on_clock(event: CloudEvent[ClockAdvanced | ApplicationReceived], unit: Any) -> None:
        unit.pending.append(event.id)

    dead_letters = RecordingDeadLetters()
    subscription = Subscription(
        "probe",
        [Topic.PORTAL, Topic.TIMELINE],
        handlers_by_annotation(on_upload, on_clock),
    )
    consumer = SubscriptionConsumer(
        subscription,
        lambda: uow,
        dead_letters,
        max_attempts=max_attempts,
        retry_backoff=0.0,
        max_backoff=0.0,
    )
    return consumer, uow, dead_letters


def upload(
    application_id: str, filename: str = "cv.pdf", event_id: str | None = None
) -> CloudEvent:
    document = Document(
        kind="cv",
        document_id="D-1",
        filename=filename,
        content_type="application/pdf",
        size_bytes=10,
        sha256="1" * 64,
    )
    data = DocumentUploaded(application_id=application_id, document=document)
    return new_event(data, subject=application_id, event_id=event_id)


def clock(campaign: int = 2027) -> CloudEvent:
    from datetime import UTC, datetime

    return new_event(
        ClockAdvanced(campaign=campaign, now=datetime(2100, 1, 1, tzinfo=UTC)),
        subject=str(campaign),
    )


def received(application_id: str) -> CloudEvent:
    data = ApplicationReceived(
        application_id=application_id,
        campaign=2027,
        round="main",
        level="M1",
        regime="formation_initiale",
        missing_documents=[],
        eligibility=Eligibility(eligible=True),
    )
    return new_event(data, subject=application_id)


def record(
    topic: Topic | str,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    partition: int = 0,
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(
        str(topic),
        partition,
        offset,
        0,
        0,
        key,
        value,
        None,
        0,
        0,
        [],  # type: ignore[arg-type]
    )


def as_record(topic: Topic, offset: int, event: CloudEvent, **changes: Any) -> Any:
    document = json.loads(encode_event(event)) | changes
    return record(topic, offset, event.key.encode(), json.dumps(document).encode())


def assert_no_secret(dead_letters: RecordingDeadLetters, caplog: pytest.LogCaptureFixture) -> None:
    for _, reason in dead_letters.written:
        assert "Secr" not in reason and "Zoé" not in reason
    for entry in caplog.records:
        text = entry.getMessage() + (entry.exc_text or "")
        assert "Secr" not in text and "Zoé" not in text, text


# Property: whatever the records, consume returns and accounts for each one.

KINDS = [
    "valid",
    "duplicate",
    "ignored",
    "fails",
    "sql error",
    "template missing",
    "outage once",
    "clock on timeline",
    "clock on portal",
    "received on portal",
    "wrong source",
    "key not subject",
    "subject not application",
    "no key",
    "garbage",
    "tombstone",
]
BAD = {
    "fails",
    "sql error",
    "template missing",
    "clock on portal",
    "received on portal",
    "wrong source",
    "key not subject",
    "subject not application",
    "no key",
    "garbage",
    "tombstone",
}


def make(kind: str, offset: int, partition: int, garbage: bytes) -> tuple[Any, str | None]:
    """A record of this kind, and the id whose effect it must apply (None: no effect)."""
    application = f"A-{offset}"
    if kind == "valid":
        event = upload(application)
        return as_record(Topic.PORTAL, offset, event), event.id
    if kind == "duplicate":
        event = upload("A-dup", event_id="the-same-id")
        return as_record(Topic.PORTAL, offset, event), event.id
    if kind == "ignored":
        answered = new_event(
            OfferAnswered(application_id=application, answer="accept"), subject=application
        )
        return as_record(Topic.PORTAL, offset, answered), None
    if kind in {"fails", "sql error", "template missing", "outage once"}:
        filename = {
            "fails": FAILS,
            "sql error": SQL_ERROR,
            "template missing": TEMPLATE_MISSING,
            "outage once": OUTAGE_ONCE,
        }[kind]
        event = upload(application, filename)
        return as_record(Topic.PORTAL, offset, event), event.id if kind == "outage once" else None
    if kind == "clock on timeline":
        event = clock()
        return as_record(Topic.TIMELINE, offset, event), event.id
    if kind == "clock on portal":
        return as_record(Topic.PORTAL, offset, clock()), None
    if kind == "received on portal":
        return as_record(Topic.PORTAL, offset, received(application)), None
    if kind == "wrong source":
        return as_record(Topic.PORTAL, offset, upload(application), source="/ifuno/selection"), None
    if kind == "key not subject":
        value = encode_event(upload(application))
        return record(Topic.PORTAL, offset, b"A-other", value, partition), None
    if kind == "subject not application":
        return as_record(Topic.PORTAL, offset, upload(application), subject="A-other"), None
    if kind == "no key":
        return record(Topic.PORTAL, offset, None, encode_event(upload(application))), None
    if kind == "garbage":
        return record(Topic.PORTAL, offset, b"A-1", garbage, partition), None
    return record(Topic.PORTAL, offset, b"A-1", None, partition), None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(KINDS), st.integers(0, 1), st.binary(max_size=40)),
        min_size=1,
        max_size=12,
    ),
    st.integers(1, 3),
)
async def test_any_records_end_applied_duplicate_ignored_or_dead_lettered(
    kinds: list[tuple[str, int, bytes]], deliveries: int
) -> None:
    consumer, uow, dead_letters = build()
    records, expected = [], []
    for offset, (kind, partition, garbage) in enumerate(kinds):
        made, effect = make(kind, offset, partition, garbage)
        made = ConsumerRecord(**{**made.__dict__, "partition": partition})
        records.append(made)
        expected.append((kind, effect))
    for _ in range(deliveries):  # a redelivery (a crash before the commit) changes nothing
        handled = await consumer.consume(tuple(records))
        assert sorted((h.partition, h.offset) for h in handled) == sorted(
            (r.partition, r.offset) for r in records
        ), "one outcome per record"
    outcomes = {(h.partition, h.offset): h.outcome for h in handled}
    effects = {effect for _, effect in expected if effect is not None}
    assert sorted(uow.applied) == sorted(effects), "each good event applied exactly once"
    dead_offsets = [r.offset for r, _ in dead_letters.written]
    bad_offsets = [r.offset for r, (kind, _) in zip(records, expected, strict=True) if kind in BAD]
    assert sorted(dead_offsets) == sorted(bad_offsets * deliveries)
    for made, (kind, _) in zip(records, expected, strict=True):
        outcome = outcomes[(made.partition, made.offset)]
        hypothesis.event(f"{kind}: {outcome.value}")
        if kind in BAD:
            assert outcome is Outcome.DEAD_LETTERED
        elif kind == "ignored":
            assert outcome is Outcome.IGNORED
        else:
            assert outcome in {Outcome.APPLIED, Outcome.DUPLICATE}
    for _, reason in dead_letters.written:
        assert "Secr" not in reason and "Zoé" not in reason


# Impersonation: each path is a dead letter, and nothing is applied.


@pytest.mark.parametrize(
    ("make_record", "reason"),
    [
        (
            lambda: as_record(Topic.PORTAL, 0, clock()),
            "type ifuno.timeline.clock_advanced.v1 is not accepted on ifuno.portal.v1",
        ),
        (
            lambda: as_record(Topic.PORTAL, 0, received("A-1")),
            "type ifuno.candidature.application_received.v1 is not accepted on ifuno.portal.v1",
        ),
        (
            lambda: as_record(Topic.TIMELINE, 0, clock(), source="/ifuno/portal"),
            "source: ifuno.timeline.clock_advanced.v1 is accepted only from /ifuno/timeline",
        ),
        (
            lambda: record(Topic.PORTAL, 0, b"A-2", encode_event(upload("A-1"))),
            "key: is not the subject (data.application_id)",
        ),
        (
            lambda: as_record(Topic.TIMELINE, 0, clock(), subject="2099"),
            "subject: is not data.campaign",
        ),
    ],
    ids=["clock on portal", "candidature on portal", "wrong source", "key", "subject"],
)
async def test_an_impersonation_is_a_dead_letter_and_applies_nothing(
    make_record: Any, reason: str
) -> None:
    consumer, uow, dead_letters = build()
    valid = upload("A-9")
    hostile = make_record()
    behind = as_record(Topic.PORTAL, 1, valid)
    for batch in ([hostile], [hostile, behind]):  # one by one, and the batch path
        consumer, uow, dead_letters = build()
        await consumer.consume(tuple(batch))
        assert [r for _, r in dead_letters.written] == [reason]
        assert uow.applied == ([valid.id] if len(batch) == 2 else [])


# Only outages are waited out; other errors are the record's and are dead-lettered.


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(),
        ConnectionResetError(),
        TimeoutError(),
        OperationalError("SELECT 1", None, type("E", (Exception,), {"sqlstate": "08006"})()),
        DBAPIError("SELECT 1", None, type("E", (Exception,), {"sqlstate": "57P01"})()),
        InterfaceError("SELECT 1", None, Exception("connection is closed")),
        DBAPIError("UPDATE", None, type("E", (Exception,), {"sqlstate": "40P01"})()),
        OperationalError("UPDATE", None, type("E", (Exception,), {"sqlstate": "40001"})()),
    ],
    ids=["refused", "reset", "timeout", "08006", "57P01", "interface", "deadlock", "serialization"],
)
def test_an_infrastructure_error_or_a_lost_race_is_waited_out(error: Exception) -> None:
    assert is_outage(error)


@pytest.mark.parametrize(
    "error",
    [
        TemplateNotFound("notification.txt"),
        FileNotFoundError(),
        failing_sql(),
        OperationalError("SELECT 1", None, type("E", (Exception,), {"sqlstate": "22001"})()),
        DBAPIError("COMMIT", None, type("E", (Exception,), {"sqlstate": "40002"})()),
        InterfaceError("SELECT $1", None, ValueError("invalid input for query argument")),
        ValueError(),
        KeyError(),
    ],
    ids=[
        "template",
        "file",
        "check",
        "too long",
        "deferred constraint",
        "bad argument",
        "value",
        "key",
    ],
)
def test_a_record_error_is_not_an_outage(error: Exception) -> None:
    assert not is_outage(error)


async def test_a_missing_template_is_dead_lettered_after_its_attempts_not_retried_forever(
    caplog: pytest.LogCaptureFixture,
) -> None:
    consumer, _, dead_letters = build()
    await consumer.consume((as_record(Topic.PORTAL, 0, upload("A-1", TEMPLATE_MISSING)),))
    assert [r for _, r in dead_letters.written] == ["handler failed 3 times: TemplateNotFound"]
    assert_no_secret(dead_letters, caplog)


async def test_an_outage_is_waited_out_with_growing_waits_up_to_the_cap(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures = 6

    async def flaky() -> str:
        nonlocal failures
        if failures:
            failures -= 1
            raise ConnectionResetError(f"reset while writing {SECRET}")
        return "done"

    caplog.set_level(logging.WARNING)
    log = logging.getLogger("test.outage")
    assert await through_outages(flaky, what="test", log=log, initial=0.01, cap=0.04) == "done"
    waits = [float(r.getMessage().rsplit("next in ", 1)[1].split()[0]) for r in caplog.records]
    assert len(waits) == 6
    assert 0.01 <= waits[0] <= 0.02 < waits[2], "exponential"
    assert waits[3:] == [0.04] * 3, "capped"
    assert all("ConnectionResetError" in r.getMessage() for r in caplog.records)
    assert_no_secret(RecordingDeadLetters(), caplog)


async def test_an_outage_in_a_handler_dead_letters_nothing_and_costs_no_attempt() -> None:
    consumer, uow, dead_letters = build(max_attempts=1)
    event = upload("A-1", OUTAGE_ONCE)
    handled = await consumer.consume((as_record(Topic.PORTAL, 0, event),))
    assert [h.outcome for h in handled] == [Outcome.APPLIED]
    assert uow.applied == [event.id]
    assert dead_letters.written == []


# No value of an error reaches a dead letter or a log line.


async def test_a_database_error_quoting_the_row_leaves_no_value_anywhere(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    consumer, _, dead_letters = build()
    await consumer.consume((as_record(Topic.PORTAL, 0, upload("A-1", SQL_ERROR)),))
    assert [r for _, r in dead_letters.written] == [
        "handler failed 3 times: IntegrityError (SQLSTATE 23514)"
    ]
    assert any("Traceback" in r.getMessage() for r in caplog.records), "the traceback is kept"
    assert_no_secret(dead_letters, caplog)


def test_describe_and_the_traceback_name_class_sqlstate_and_fields_only() -> None:
    try:
        try:
            raise SqlError(f"Failing row contains ({SECRET})")
        except SqlError as orig:
            raise IntegrityError("INSERT", (SECRET,), orig) from orig
    except IntegrityError as error:
        assert describe(error) == "IntegrityError (SQLSTATE 23514)"
        told = traceback_without_values(error)
    assert "Traceback" in told and "SqlError (SQLSTATE 23514)" in told
    assert "Secr" not in told
    try:
        DocumentUploaded.model_validate({"application_id": SECRET + "\x00", "document": {}})
    except Exception as error:
        assert describe(error).startswith("ValidationError (DocumentUploaded.application_id: ")
        assert "Secr" not in describe(error)


async def test_consume_never_raises_even_when_the_kit_fails_on_a_record(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    consumer, _, dead_letters = build()

    def broken(_: Any) -> None:
        raise RuntimeError(f"a bug that quotes {SECRET}")

    monkeypatch.setattr(consumer, "_read", broken)
    records = (as_record(Topic.PORTAL, 0, upload("A-1")), as_record(Topic.PORTAL, 1, upload("A-2")))
    handled = await consumer.consume(records)
    assert [h.outcome for h in handled] == [Outcome.DEAD_LETTERED] * 2
    assert [r for _, r in dead_letters.written] == ["unexpected failure: RuntimeError"] * 2
    assert_no_secret(dead_letters, caplog)
