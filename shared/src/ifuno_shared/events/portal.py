"""Events the e-candidature portal sends on `ifuno.portal.v1` (accepted exactly).

No text field may hold a control character (`SingleLine`, `MultiLine`): the portal
is outside the platform, and what it sends is checked before anything stores or
sends it on.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from ifuno_shared.events.base import (
    ApplicationId,
    Campaign,
    DocumentKind,
    Email,
    Level,
    MultiLine,
    PortalEventData,
    Regime,
    Sha256,
    SingleLine,
    Timestamp,
)


class _Strict(BaseModel):
    """Parts of a portal event: no extra field; booleans and numbers are JSON's own
    (`"yes"`, `0` or `"12"` is refused, not converted)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Candidate(_Strict):
    candidate_id: Annotated[str, Field(min_length=1, max_length=64), SingleLine]
    first_name: Annotated[str, Field(min_length=1, max_length=200), SingleLine]
    last_name: Annotated[str, Field(min_length=1, max_length=200), SingleLine]
    email: Email
    phone: Annotated[str, Field(min_length=1, max_length=40), SingleLine] | None = None
    """E.164 or French national form (`06 12 34 56 78`); candidature normalizes it, and
    an unusable number keeps the application (SMS off for it, flagged to staff)."""
    sms_opt_in: StrictBool = False


class Diploma(_Strict):
    level: Annotated[str, Field(pattern=r"^bac\+[0-9]$")]
    field: Annotated[str, Field(max_length=200), SingleLine]
    title: Annotated[str, Field(max_length=200), SingleLine]


class Document(_Strict):
    kind: DocumentKind
    document_id: Annotated[str, Field(min_length=1, max_length=64), SingleLine]
    filename: Annotated[str, Field(min_length=1, max_length=255), SingleLine]
    content_type: Annotated[str, Field(min_length=1, max_length=100), SingleLine]
    size_bytes: Annotated[StrictInt, Field(ge=0)]
    sha256: Sha256


class ApplicationSubmitted(PortalEventData):
    event_type: ClassVar[str] = "ifuno.portal.application_submitted.v1"

    application_id: ApplicationId
    campaign: Campaign
    level: Level
    regime: Regime
    candidate: Candidate
    employed: StrictBool
    highest_diploma: Diploma | None
    vapp: StrictBool
    training_experience_years: Annotated[StrictInt, Field(ge=0, le=60)]
    documents: list[Document]
    submitted_at: Timestamp


class DocumentUploaded(PortalEventData):
    event_type: ClassVar[str] = "ifuno.portal.document_uploaded.v1"

    application_id: ApplicationId
    document: Document
    uploaded_at: Timestamp | None = None
    """The candidate's time of upload; lateness follows it (default: the event's time)."""


class ApplicationWithdrawn(PortalEventData):
    event_type: ClassVar[str] = "ifuno.portal.application_withdrawn.v1"

    application_id: ApplicationId
    reason: Annotated[str, Field(max_length=2000), MultiLine] | None = None


class OfferAnswered(PortalEventData):
    event_type: ClassVar[str] = "ifuno.portal.offer_answered.v1"

    application_id: ApplicationId
    answer: Literal["accept", "decline"]
    answered_at: Timestamp | None = None
    """The candidate's time of answer; it counts if at or before the deadline minute
    (default: the event's time), whenever the event is read."""


class TwoYearPlanRequested(PortalEventData):
    """An accepted M2 candidate asks to spread the M2 over two academic years."""

    event_type: ClassVar[str] = "ifuno.portal.two_year_plan_requested.v1"

    application_id: ApplicationId


class ErasureRequested(PortalEventData):
    """The candidate's right to erasure: every service erases what it holds."""

    event_type: ClassVar[str] = "ifuno.portal.erasure_requested.v1"

    application_id: ApplicationId
    candidate_id: Annotated[str, Field(min_length=1, max_length=64), SingleLine]


PORTAL_EVENTS: tuple[type[PortalEventData], ...] = (
    ApplicationSubmitted,
    DocumentUploaded,
    ApplicationWithdrawn,
    OfferAnswered,
    TwoYearPlanRequested,
    ErasureRequested,
)
