"""The load: a burst (N submissions as fast as the portal can send them) or an open
loop (submissions at fixed instants, whatever the system does meanwhile).

Records are encoded before the clock starts, so that encoding them costs the
measured systems no CPU; instants are the wall clock (`time.time()`), the clock
of the mail sink's timestamps.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
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


class Sent:
    """How many submissions have gone out so far (the progress line reads it)."""

    def __init__(self) -> None:
        self.count = 0


async def burst(
    bootstrap: str, topic: str, records: dict[int, bytes], sent: Sent | None = None
) -> dict[str, float]:
    """Produce every record at once; return the send instant per recipient."""
    sent = sent or Sent()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    sent_at: dict[str, float] = {}
    try:
        pending = []
        for index, value in records.items():
            sent_at[candidate_email(index)] = time.time()
            pending.append(await producer.send(topic, value, key=application_id(index).encode()))
            sent.count += 1
        for delivery in pending:
            await delivery
    finally:
        await producer.stop()
    return sent_at


def schedule(rate: float, duration: float, start: float) -> list[float]:
    """The arrival instants of an open loop: `rate` per second for `duration` seconds,
    evenly spaced from `start`."""
    if rate <= 0 or duration <= 0:
        raise ValueError("rate and duration must be positive")
    return [start + n / rate for n in range(round(rate * duration))]


async def open_loop(
    bootstrap: str,
    topic: str,
    records: dict[int, bytes],
    instants: list[float],
    sent: Sent | None = None,
) -> tuple[dict[str, float], list[float]]:
    """Send record n at instants[n], never waiting on the system: a send late because
    this process was busy goes at once. Returns the scheduled instant per recipient
    (latency is counted from it: a late send does not hide the delay) and how late
    each send went out, in seconds."""
    if len(records) != len(instants):
        raise ValueError("one instant per record")
    sent = sent or Sent()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    scheduled: dict[str, float] = {}
    lateness: list[float] = []
    try:
        pending = []
        for (index, value), at in zip(records.items(), instants, strict=True):
            delay = at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            scheduled[candidate_email(index)] = at
            pending.append(await producer.send(topic, value, key=application_id(index).encode()))
            lateness.append(max(time.time() - at, 0.0))
            sent.count += 1
        for delivery in pending:
            await delivery
    finally:
        await producer.stop()
    return scheduled, lateness


PORTAL_TOPIC = Topic.PORTAL.value
