"""The burst: N submissions produced as fast as the portal can send them."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from aiokafka import AIOKafkaProducer
from ifuno_shared.events import Level, Regime, Topic, encode_event, new_event
from ifuno_shared.events.portal import ApplicationSubmitted, Candidate, Diploma, Document

SHA = "ab" * 32


def candidate_email(index: int) -> str:
    return f"candidat.{index}@bench.example.org"


def application_id(index: int) -> str:
    return f"B-{index:06d}"


def baseline_record(index: int) -> bytes:
    return json.dumps(
        {
            "id": str(uuid.uuid4()),
            "application_id": application_id(index),
            "email": candidate_email(index),
        }
    ).encode()


def submission_record(index: int, campaign: int, submitted_at: datetime) -> bytes:
    """A complete, eligible M1 application (the common case of the last hours)."""
    documents = [
        Document(
            kind=kind,
            document_id=f"D-{index}-{kind}",
            filename=f"{kind}.pdf",
            content_type="application/pdf",
            size_bytes=150_000,
            sha256=SHA,
        )
        for kind in ("cv", "cover_letter", "diploma")
    ]
    data = ApplicationSubmitted(
        application_id=application_id(index),
        campaign=campaign,
        level=Level.M1,
        regime=Regime.FORMATION_INITIALE if index % 2 else Regime.FORMATION_CONTINUE,
        candidate=Candidate(
            candidate_id=f"C-{index}",
            first_name="Camille",
            last_name=f"Martin{index}",
            email=candidate_email(index),
            phone=None,
            sms_opt_in=False,
        ),
        employed=False,
        highest_diploma=Diploma(level="bac+3", field="sciences de l'éducation", title="Licence"),
        vapp=False,
        training_experience_years=2,
        documents=documents,
        submitted_at=submitted_at,
    )
    return encode_event(new_event(data, subject=data.application_id))


async def burst(
    bootstrap: str, topic: str, count: int, record: Callable[[int], bytes]
) -> dict[str, float]:
    """Produce `count` records; return the send instant (perf_counter) per recipient."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    sent_at: dict[str, float] = {}
    try:
        pending = []
        for index in range(count):
            sent_at[candidate_email(index)] = time.perf_counter()
            pending.append(
                await producer.send(topic, record(index), key=application_id(index).encode())
            )
        for delivery in pending:
            await delivery
    finally:
        await producer.stop()
    return sent_at


PORTAL_TOPIC = Topic.PORTAL.value
