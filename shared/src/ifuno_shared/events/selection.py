"""Events the selection service publishes on `ifuno.selection.v1`."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from ifuno_shared.events.base import ApplicationId, Campaign, EventData, Level, Round, Timestamp
from ifuno_shared.events.topics import Topic


class SelectionEventData(EventData):
    topic: ClassVar[Topic] = Topic.SELECTION
    source: ClassVar[str] = "/ifuno/selection"


class Shortlisted(SelectionEventData):
    """The file review reached the shortlist threshold: an interview follows."""

    event_type: ClassVar[str] = "ifuno.selection.shortlisted.v1"

    application_id: ApplicationId
    level: Level
    file_score: Annotated[float, Field(ge=0, le=20)]


class InterviewScheduled(SelectionEventData):
    event_type: ClassVar[str] = "ifuno.selection.interview_scheduled.v1"

    application_id: ApplicationId
    starts_at: Timestamp
    ends_at: Timestamp
    location: str | None = None
    video_url: str | None = None
    level: Level | None = None
    notice_days: int | None = None
    """Whole days between the invitation and the interview; below the rule's 7 when no
    slot allowed it (`short_notice`), which staff see."""
    short_notice: bool = False


class InterviewRecorded(SelectionEventData):
    event_type: ClassVar[str] = "ifuno.selection.interview_recorded.v1"

    application_id: ApplicationId
    attended: bool
    score: Annotated[float, Field(ge=0, le=20)] | None = None
    level: Level | None = None


class Admitted(SelectionEventData):
    event_type: ClassVar[str] = "ifuno.selection.admitted.v1"

    application_id: ApplicationId
    level: Level
    offer_deadline: Timestamp
    from_waitlist: bool
    campaign: Campaign | None = None
    round: Round | None = None
    total_score: float | None = None


class Waitlisted(SelectionEventData):
    event_type: ClassVar[str] = "ifuno.selection.waitlisted.v1"

    application_id: ApplicationId
    level: Level
    rank: Annotated[int, Field(ge=1)]
    campaign: Campaign | None = None
    late_answer: bool = False
    """An on-time acceptance read after its place was given away: first on the list."""


class WaitlistRankChanged(SelectionEventData):
    event_type: ClassVar[str] = "ifuno.selection.waitlist_rank_changed.v1"

    application_id: ApplicationId
    level: Level
    rank: Annotated[int, Field(ge=1)]
    previous_rank: int | None = None


class Refused(SelectionEventData):
    """Reasons: `below_shortlist_threshold`, `absent_from_interview`,
    `below_admission_threshold`, `not_ranked_in_time`, `ineligible`."""

    event_type: ClassVar[str] = "ifuno.selection.refused.v1"

    application_id: ApplicationId
    reason: str
    level: Level | None = None


class OfferAccepted(SelectionEventData):
    event_type: ClassVar[str] = "ifuno.selection.offer_accepted.v1"

    application_id: ApplicationId
    level: Level | None = None


class OfferDeclined(SelectionEventData):
    event_type: ClassVar[str] = "ifuno.selection.offer_declined.v1"

    application_id: ApplicationId
    level: Level | None = None


class OfferExpired(SelectionEventData):
    event_type: ClassVar[str] = "ifuno.selection.offer_expired.v1"

    application_id: ApplicationId
    level: Level | None = None


class PlaceReleased(SelectionEventData):
    """A candidate holding a place (offered or accepted) withdrew: it is free again."""

    event_type: ClassVar[str] = "ifuno.selection.place_released.v1"

    application_id: ApplicationId
    level: Level


class ComplementaryRoundOpened(SelectionEventData):
    """A level still has free places once its waitlist is exhausted."""

    event_type: ClassVar[str] = "ifuno.selection.complementary_round_opened.v1"

    campaign: Campaign
    level: Level
    free_places: Annotated[int, Field(ge=1)]


class ComplementaryRoundClosed(SelectionEventData):
    """The level's places are all held again (accepted + pending): complementary
    applications for it are refused `no_places_left` from now on."""

    event_type: ClassVar[str] = "ifuno.selection.complementary_round_closed.v1"

    campaign: Campaign
    level: Level


class WaitlistClosed(SelectionEventData):
    """At the start of the academic year: no place will be offered to this candidate."""

    event_type: ClassVar[str] = "ifuno.selection.waitlist_closed.v1"

    application_id: ApplicationId
    level: Level
    campaign: Campaign | None = None


class TwoYearPlanRecorded(SelectionEventData):
    """An accepted M2 candidate's two-year plan is recorded (capacity unchanged)."""

    event_type: ClassVar[str] = "ifuno.selection.two_year_plan_recorded.v1"

    application_id: ApplicationId
    level: Level


class ErasureConfirmed(SelectionEventData):
    """The selection service holds no personal data about this application any more."""

    event_type: ClassVar[str] = "ifuno.selection.erasure_confirmed.v1"

    application_id: ApplicationId
    service: str = "selection"


SELECTION_EVENTS: tuple[type[SelectionEventData], ...] = (
    Shortlisted,
    InterviewScheduled,
    InterviewRecorded,
    Admitted,
    Waitlisted,
    WaitlistRankChanged,
    Refused,
    OfferAccepted,
    OfferDeclined,
    OfferExpired,
    PlaceReleased,
    ComplementaryRoundOpened,
    ComplementaryRoundClosed,
    WaitlistClosed,
    TwoYearPlanRecorded,
    ErasureConfirmed,
)
