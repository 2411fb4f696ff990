"""Which messages an event causes for a candidate, and what they say. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ifuno_shared.events import DocumentKind, EventData, Level, Regime
from ifuno_shared.events import candidature as c
from ifuno_shared.events import selection as s

from ifuno_notification.domain import french
from ifuno_notification.domain.offices import PROGRAMME_EMAIL, office_for

SUBJECTS = {
    "application_received": "Votre candidature au master IFUNO a bien été reçue",
    "application_completed": "Votre dossier de candidature est complet",
    "document_rejected": "Un document de votre candidature n'a pas pu être accepté",
    "incomplete_reminder": "Votre dossier de candidature est incomplet : plus que 3 jours",
    "application_refused": "Votre candidature au master IFUNO",
    "application_withdrawn": "Confirmation du retrait de votre candidature",
    "interview_scheduled": "Convocation à l'entretien de sélection du master IFUNO",
    "admitted": "Vous êtes admis(e) au master IFUNO",
    "promoted": "Une place s'est libérée : vous êtes admis(e) au master IFUNO",
    "waitlisted": "Vous êtes sur liste complémentaire du master IFUNO",
    "waitlist_rank_changed": "Votre rang sur la liste complémentaire a changé",
    "selection_refused": "Décision de la commission de sélection du master IFUNO",
    "offer_reminder": "Rappel : répondez à votre proposition d'admission avant 2 jours",
    "offer_expired": "Votre proposition d'admission a expiré",
    "offer_accepted": "Confirmation de votre inscription au master IFUNO",
    "offer_declined": "Confirmation de votre renoncement au master IFUNO",
}
TEMPLATES = tuple(SUBJECTS)


@dataclass
class Recipient:
    """What notification keeps about a candidate, from the candidature events."""

    application_id: str
    campaign: int
    level: Level
    regime: Regime
    contact: c.Contact
    submission_deadline: datetime | None = None
    complete: bool = False
    offer_deadline: datetime | None = None
    offer_open: bool = False
    incomplete_reminded: bool = False
    offer_reminded_for: datetime | None = None
    missing_documents: list[DocumentKind] = field(default_factory=list)


@dataclass(frozen=True)
class Message:
    template: str
    context: dict[str, Any]

    @property
    def subject(self) -> str:
        return SUBJECTS[self.template]


def context_for(recipient: Recipient, **values: Any) -> dict[str, Any]:
    office = office_for(recipient.regime)
    return {
        "first_name": recipient.contact.first_name,
        "last_name": recipient.contact.last_name,
        "level": recipient.level.value,
        "campaign": recipient.campaign,
        "application_id": recipient.application_id,
        "office": office,
        "programme_email": PROGRAMME_EMAIL,
        **values,
    }


def messages_for(data: EventData, recipient: Recipient) -> list[Message]:
    """The candidate-facing messages an event causes (usually one, sometimes none)."""

    def one(template: str, **values: Any) -> list[Message]:
        return [Message(template, context_for(recipient, **values))]

    match data:
        case c.ApplicationReceived():
            deadline = data.submission_deadline
            return one(
                "application_received",
                missing=[french.DOCUMENTS[k] for k in data.missing_documents],
                deadline=french.datetime_fr(deadline) if deadline else None,
                deadline_short=french.short_date_fr(deadline) if deadline else None,
            )
        case c.ApplicationCompleted():
            return one("application_completed")
        case c.DocumentRejected():
            return one("document_rejected", document=french.DOCUMENTS[data.kind])
        case c.ApplicationRefused():
            return one(
                "application_refused",
                reason=french.reason_fr(data.reason, french.CANDIDATURE_REFUSALS),
            )
        case c.ApplicationWithdrawn():
            return one("application_withdrawn")
        case s.InterviewScheduled():
            return one(
                "interview_scheduled",
                date=french.date_fr(data.starts_at),
                time=french.time_fr(data.starts_at),
                end_time=french.time_fr(data.ends_at),
                short=french.short_date_fr(data.starts_at),
                location=data.location,
                video_url=data.video_url,
            )
        case s.Admitted():
            return one(
                "promoted" if data.from_waitlist else "admitted",
                deadline=french.datetime_fr(data.offer_deadline),
                deadline_short=french.short_date_fr(data.offer_deadline),
            )
        case s.Waitlisted() | s.WaitlistRankChanged():
            template = "waitlisted" if isinstance(data, s.Waitlisted) else "waitlist_rank_changed"
            return one(template, rank=data.rank)
        case s.Refused():
            return one(
                "selection_refused", reason=french.reason_fr(data.reason, french.SELECTION_REFUSALS)
            )
        case s.OfferExpired():
            return one("offer_expired")
        case s.OfferAccepted():
            return one("offer_accepted")
        case s.OfferDeclined():
            return one("offer_declined")
    return []


def incomplete_reminder(recipient: Recipient) -> Message:
    deadline = recipient.submission_deadline
    assert deadline is not None
    return Message(
        "incomplete_reminder",
        context_for(
            recipient,
            deadline=french.datetime_fr(deadline),
            deadline_short=french.short_date_fr(deadline),
        ),
    )


def offer_reminder(recipient: Recipient) -> Message:
    deadline = recipient.offer_deadline
    assert deadline is not None
    return Message(
        "offer_reminder",
        context_for(
            recipient,
            deadline=french.datetime_fr(deadline),
            deadline_short=french.short_date_fr(deadline),
        ),
    )
