"""Events the selection service publishes on `ifuno.selection.v1`."""

from __future__ import annotations

from typing import Annotated, ClassVar, TypeAlias

from pydantic import Field

from ifuno_shared.events.base import ApplicationId, Campaign, EventData, Level, Round, Timestamp
from ifuno_shared.events.topics import Topic


class SelectionEventData(EventData):
    topic: ClassVar[Topic] = Topic.SELECTION
    source: ClassVar[str] = "/ifuno/selection"


# Selection is the authority on places. An event that changes a level's held places
# (an offer, a late acceptance taking a free place, a decline, an expiry, a release)
# carries the level's count and the change's order: keyed by application, two changes
# of one level often travel on two partitions and are read in either order, so a
# reader orders them by `places_change` and shows `places_held`, never a count of its
# own. Both are None in events published before selection counted them, and on an
# acceptance of a place held already.
PlacesHeld: TypeAlias = Annotated[int, Field(ge=0)] | None
"""Accepted plus pending offers of the level right after this change."""
PlacesChange: TypeAlias = Annotated[int, Field(ge=1)] | None
"""The level's place changes so far, this one included: one more with each."""


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
    """An offer: a place held until it is answered or expires.

    `places_held` is the level's accepted plus pending offers right after it, and
    `places_change` its order among the level's place changes (one more with each): a
    reader orders the changes it reads from several partitions by it."""

    event_type: ClassVar[str] = "ifuno.selection.admitted.v1"

    application_id: ApplicationId
    level: Level
    offer_deadline: Timestamp
    from_waitlist: bool
    campaign: Campaign | None = None
    round: Round | None = None
    total_score: float | None = None
    places_held: PlacesHeld = None
    places_change: PlacesChange = None


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
    """The candidate took the offered place.

    Counted (`places_held`, `places_change`) only for an on-time acceptance read late
    that takes a place still free: any other keeps the place its offer already held."""

    event_type: ClassVar[str] = "ifuno.selection.offer_accepted.v1"

    application_id: ApplicationId
    level: Level | None = None
    campaign: Campaign | None = None
    places_held: PlacesHeld = None
    places_change: PlacesChange = None


class OfferDeclined(SelectionEventData):
    """The candidate declined the offer: the place is free again.

    Offered at once to the waitlist's first, in the same transaction: that `admitted`
    is often read first (another partition). Counted as `admitted` is."""

    event_type: ClassVar[str] = "ifuno.selection.offer_declined.v1"

    application_id: ApplicationId
    level: Level | None = None
    campaign: Campaign | None = None
    places_held: PlacesHeld = None
    places_change: PlacesChange = None


class OfferExpired(SelectionEventData):
    """The offer's deadline passed unanswered: the place is free again.

    Counted as `offer_declined` is."""

    event_type: ClassVar[str] = "ifuno.selection.offer_expired.v1"

    application_id: ApplicationId
    level: Level | None = None
    campaign: Campaign | None = None
    places_held: PlacesHeld = None
    places_change: PlacesChange = None


class PlaceReleased(SelectionEventData):
    """A candidate holding a place (offered or accepted) withdrew: it is free again.

    Also on an erasure. Counted as `offer_declined` is."""

    event_type: ClassVar[str] = "ifuno.selection.place_released.v1"

    application_id: ApplicationId
    level: Level
    campaign: Campaign | None = None
    places_held: PlacesHeld = None
    places_change: PlacesChange = None


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
