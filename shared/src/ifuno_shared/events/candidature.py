"""Events the candidature service publishes on `ifuno.candidature.v1`."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from ifuno_shared.events.base import (
    ApplicationId,
    Campaign,
    DocumentKind,
    Email,
    EventData,
    Level,
    Regime,
    Round,
    Timestamp,
)
from ifuno_shared.events.topics import Topic


class CandidatureEventData(EventData):
    topic: ClassVar[Topic] = Topic.CANDIDATURE
    source: ClassVar[str] = "/ifuno/candidature"


class ContactEventData(EventData):
    """Candidature's events on the compacted `ifuno.contacts.v1`: contact details live
    there only, so that one tombstone per application erases them from the topics."""

    topic: ClassVar[Topic] = Topic.CONTACTS
    source: ClassVar[str] = "/ifuno/candidature"


class Contact(BaseModel):
    """What notification needs to reach and address a candidate (kept off logs)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    candidate_id: str
    first_name: str
    last_name: str
    email: Email
    phone: str | None = None
    """E.164 when usable; None otherwise (then `phone_unusable` tells staff why no SMS)."""
    sms_opt_in: bool = False
    phone_unusable: bool = False


class Eligibility(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    eligible: bool
    reasons: list[str] = Field(default_factory=list)


class ApplicationReceived(CandidatureEventData):
    event_type: ClassVar[str] = "ifuno.candidature.application_received.v1"

    application_id: ApplicationId
    campaign: Campaign
    round: Round
    level: Level
    regime: Regime
    missing_documents: list[DocumentKind]
    eligibility: Eligibility
    candidate: Contact | None = None
    """Always null now: the contact is on `ifuno.contacts.v1` (`contact_recorded`)."""
    submitted_at: Timestamp | None = None
    submission_deadline: Timestamp | None = None
    complete: bool = False


class ApplicationCompleted(CandidatureEventData):
    event_type: ClassVar[str] = "ifuno.candidature.application_completed.v1"

    application_id: ApplicationId
    campaign: Campaign | None = None
    round: Round | None = None
    level: Level | None = None
    completed_at: Timestamp | None = None
    eligibility: Eligibility | None = None


class SubmissionDeadlineMoved(CandidatureEventData):
    """The calendar moved the deadline of a round while this file was live: the file's
    new deadline (the reminder of an incomplete file follows it)."""

    event_type: ClassVar[str] = "ifuno.candidature.submission_deadline_moved.v1"

    application_id: ApplicationId
    campaign: Campaign
    round: Round
    submission_deadline: Timestamp
    complete: bool


class DocumentRefusal(StrEnum):
    """Why a document was not added, as a code: what the candidate can still do
    depends on it (send the file again, or nothing: the deadline has passed)."""

    INVALID_FILE = "invalid_file"
    """Not PDF, JPEG or PNG, over 10 MB, or empty: the file can be sent again."""
    LATE = "late"
    """Uploaded after the deadline minute."""
    FILE_CLOSED = "file_closed"
    """The application is refused or withdrawn."""
    ON_TIME_AFTER_CLOSING = "on_time_after_closing"
    """Uploaded on time, read after the file was closed: kept for staff, flagged."""


class DocumentRejected(CandidatureEventData):
    """A document the portal sent that did not join the file, with the reason in French
    (`reason`) and as a code (`cause`; absent from events published before it)."""

    event_type: ClassVar[str] = "ifuno.candidature.document_rejected.v1"

    application_id: ApplicationId
    document_id: str
    kind: DocumentKind
    reason: str
    cause: DocumentRefusal | None = None


class EligibilityOverridden(CandidatureEventData):
    """Staff overrode a failed automatic prerequisite check."""

    event_type: ClassVar[str] = "ifuno.candidature.eligibility_overridden.v1"

    application_id: ApplicationId
    eligibility: Eligibility
    overridden_by: Annotated[str, Field(max_length=200)]
    note: str | None = None


class ApplicationRefused(CandidatureEventData):
    """Refused by candidature: `campaign_closed`, `incomplete_at_deadline`,
    `duplicate_application`, `no_places_left`."""

    event_type: ClassVar[str] = "ifuno.candidature.application_refused.v1"

    application_id: ApplicationId
    reason: str
    campaign: Campaign | None = None
    level: Level | None = None
    regime: Regime | None = None
    round: Round | None = None
    candidate: Contact | None = None
    """Always null now: the contact is on `ifuno.contacts.v1` (`contact_recorded`)."""
    missing_documents: list[DocumentKind] = Field(default_factory=list)


class ApplicationWithdrawn(CandidatureEventData):
    event_type: ClassVar[str] = "ifuno.candidature.application_withdrawn.v1"

    application_id: ApplicationId
    level: Level | None = None
    campaign: Campaign | None = None
    reason: str | None = None


class ApplicationErased(CandidatureEventData):
    """Candidature erased the application's personal data (on request): every other
    service erases what it holds about it and confirms. Also candidature's own
    confirmation."""

    event_type: ClassVar[str] = "ifuno.candidature.application_erased.v1"

    application_id: ApplicationId
    campaign: Campaign | None = None


class ContactRecorded(ContactEventData):
    """The contact details of an application (key = application id; latest wins)."""

    event_type: ClassVar[str] = "ifuno.candidature.contact_recorded.v1"

    application_id: ApplicationId
    campaign: Campaign
    level: Level
    regime: Regime
    candidate: Contact


CANDIDATURE_EVENTS: tuple[type[EventData], ...] = (
    ApplicationReceived,
    ApplicationCompleted,
    SubmissionDeadlineMoved,
    DocumentRejected,
    EligibilityOverridden,
    ApplicationRefused,
    ApplicationWithdrawn,
    ApplicationErased,
    ContactRecorded,
)
