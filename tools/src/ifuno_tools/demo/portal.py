"""The e-candidature portal, simulated: what it sends on `ifuno.portal.v1`."""

from __future__ import annotations

import hashlib
from datetime import datetime

from aiokafka import AIOKafkaProducer
from ifuno_shared.events import (
    CONTENT_TYPE_HEADER,
    CloudEvent,
    DocumentKind,
    encode_event,
    new_event,
)
from ifuno_shared.events.portal import (
    ApplicationSubmitted,
    ApplicationWithdrawn,
    Candidate,
    Diploma,
    Document,
    DocumentUploaded,
    OfferAnswered,
)

from ifuno_tools.demo.population import Profile

TITLES = {3: "Licence", 4: "Master 1", 5: "Master 2", 2: "BTS"}


def _document(profile: Profile, kind: DocumentKind) -> Document:
    digest = hashlib.sha256(f"{profile.application_id}/{kind.value}".encode()).hexdigest()
    return Document(
        kind=kind,
        document_id=f"{profile.application_id}-{kind.value}",
        filename=f"{kind.value}.pdf",
        content_type="application/pdf",
        size_bytes=120_000 + profile.index,
        sha256=digest,
    )


def required(profile: Profile) -> list[DocumentKind]:
    kinds = [DocumentKind.CV, DocumentKind.COVER_LETTER, DocumentKind.DIPLOMA]
    if profile.employed:
        kinds.append(DocumentKind.JOB_DESCRIPTION)
    return kinds


def submission(profile: Profile, campaign: int) -> CloudEvent:
    data = ApplicationSubmitted(
        application_id=profile.application_id,
        campaign=campaign,
        level=profile.level,
        regime=profile.regime,
        candidate=Candidate(
            candidate_id=f"C-{profile.index}",
            first_name=profile.first_name,
            last_name=profile.last_name,
            email=profile.email,
            phone=profile.phone,
            sms_opt_in=profile.sms_opt_in and profile.phone is not None,
        ),
        employed=profile.employed,
        highest_diploma=Diploma(
            level=f"bac+{profile.diploma_years}",
            field=profile.diploma_field,
            title=TITLES.get(profile.diploma_years, "Diplôme"),
        ),
        vapp=profile.vapp,
        training_experience_years=profile.experience_years,
        documents=[_document(profile, k) for k in required(profile) if k not in profile.missing],
        submitted_at=profile.submitted_at,
    )
    return new_event(data, subject=profile.application_id, time=profile.submitted_at)


def uploads(profile: Profile, at: datetime) -> list[CloudEvent]:
    return [
        new_event(
            DocumentUploaded(application_id=profile.application_id, document=_document(profile, k)),
            subject=profile.application_id,
            time=at,
        )
        for k in profile.missing
    ]


def withdrawal(profile: Profile, at: datetime) -> CloudEvent:
    data = ApplicationWithdrawn(application_id=profile.application_id, reason="Autre projet")
    return new_event(data, subject=profile.application_id, time=at)


def answer(profile: Profile, at: datetime) -> CloudEvent:
    data = OfferAnswered.model_validate(
        {"application_id": profile.application_id, "answer": profile.answer}
    )
    return new_event(data, subject=profile.application_id, time=at)


class Portal:
    def __init__(self, bootstrap: str) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send(self, events: list[CloudEvent]) -> None:
        await self._send(events)

    async def _send(self, events: list[CloudEvent]) -> None:
        """Every event to its topic, keyed like the outbox relay does, all acknowledged."""
        deliveries = [
            await self._producer.send(
                event.data.topic.value,
                encode_event(event),
                key=event.key.encode(),
                headers=[CONTENT_TYPE_HEADER],
            )
            for event in events
        ]
        for delivery in deliveries:
            await delivery
