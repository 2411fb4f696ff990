"""One candidate's way through review and interview, before the committee.

The aggregate of one file: each step checks that the file is where that step can
happen (`WrongStep` otherwise) and records the events it causes in `events`, which
the unit of work publishes when the candidate is saved. What happens to a file once
it holds a place or waits on the waitlist is the level's (`LevelPlaces`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from ifuno_shared.errors import Conflict
from ifuno_shared.events import EventData, Level, Round
from ifuno_shared.events import selection as events

from ifuno_selection.domain.rules import file_score


class Status(StrEnum):
    RECEIVED = "received"  # incomplete: not yet reviewable
    IN_REVIEW = "in_review"
    SHORTLISTED = "shortlisted"  # interview scheduled
    INTERVIEWED = "interviewed"
    REFUSED = "refused"
    WAITLISTED = "waitlisted"
    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    CLOSED = "closed"  # refused by candidature (late, incomplete at the deadline, ...)
    WAITLIST_CLOSED = "waitlist_closed"  # still waiting when the academic year started


FINAL = frozenset(
    {
        Status.REFUSED,
        Status.DECLINED,
        Status.EXPIRED,
        Status.WITHDRAWN,
        Status.CLOSED,
        Status.WAITLIST_CLOSED,
    }
)
PLACED = frozenset({Status.OFFERED, Status.ACCEPTED, Status.WAITLISTED})
"""Statuses the level's places decide on (`LevelPlaces`), not the candidate."""
BEFORE_COMMITTEE = frozenset({Status.IN_REVIEW, Status.SHORTLISTED, Status.INTERVIEWED})
UNFINISHED = frozenset({Status.IN_REVIEW, Status.SHORTLISTED})
"""Complete files the committee cannot rank as they stand: not reviewed (enough), or
not interviewed."""


class WrongStep(Conflict):
    """A step that does not fit where the file is (HTTP 409 for a staff action)."""


@dataclass
class Candidate:
    application_id: str
    campaign: int
    level: Level
    round: Round
    status: Status
    eligible: bool
    completed_at: datetime | None = None
    file_score: float | None = None
    interview_score: float | None = None
    interview_by_video: bool = False
    interview_notes: str | None = None
    """Staff's free text on the interview: personal data, in no event."""
    refusal_reason: str | None = None
    offer_deadline: datetime | None = None
    """The last offer's deadline, kept when the offer ended (the places decide on it)."""
    version: int = field(default=0, compare=False)
    """The stored version this copy was read at: a write succeeds only if the file has
    not changed since (optimistic concurrency), else the step is applied again."""
    events: list[EventData] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def received(
        cls, application_id: str, campaign: int, level: Level, round_: Round, eligible: bool
    ) -> Candidate:
        """A file candidature has just received: not reviewable until complete."""
        return cls(application_id, campaign, level, round_, Status.RECEIVED, eligible)

    @property
    def total(self) -> float:
        return (self.file_score or 0.0) + (self.interview_score or 0.0)

    @property
    def holds_place(self) -> bool:
        """Offered, accepted or waitlisted: leaving frees a place or a waitlist rank."""
        return self.status in PLACED

    def complete(self, completed_at: datetime, eligible: bool | None) -> bool:
        """The file is complete: review can start. A second completion changes nothing
        (False)."""
        if self.status is not Status.RECEIVED:
            return False
        self.status, self.completed_at = Status.IN_REVIEW, completed_at
        if eligible is not None:
            self.eligible = eligible
        return True

    def override_eligibility(self, eligible: bool) -> None:
        """Staff's word on the prerequisites, at any step, replaces the automatic check."""
        self.eligible = eligible

    def close(self, reason: str) -> bool:
        """Refused by candidature (late, incomplete at the deadline, ...); False if the
        file was already at an end."""
        if self.status in FINAL:
            return False
        self.status, self.refusal_reason = Status.CLOSED, reason
        return True

    def withdraw(self) -> bool:
        """The candidate leaves; False if the file was already at an end. A place held
        is freed by the level's places instead, which promote the next candidate."""
        if self.status in FINAL:
            return False
        if self.holds_place:
            raise WrongStep(f"the file is {self.status.value}: its level's places free it")
        self.status = Status.WITHDRAWN
        return True

    def check_reviewable(self) -> None:
        if self.status is not Status.IN_REVIEW:
            raise WrongStep(f"the file is {self.status.value}, not in review")
        if not self.eligible:
            raise WrongStep("the file failed a prerequisite check that staff did not override")

    def review(
        self,
        reviews: Iterable[dict[str, int]],
        by_video: bool,
        reviews_required: int,
        shortlist_threshold: float,
    ) -> None:
        """Every review of the file so far; once enough reviewers scored, the file is
        shortlisted (its interview is scheduled next) or refused."""
        self.check_reviewable()
        reviews = list(reviews)
        self.file_score = file_score(reviews)
        self.interview_by_video = self.interview_by_video or by_video
        if len(reviews) < reviews_required:
            return
        if self.file_score >= shortlist_threshold:
            self.status = Status.SHORTLISTED
            self.events.append(
                events.Shortlisted(
                    application_id=self.application_id,
                    level=self.level,
                    file_score=self.file_score,
                )
            )
        else:
            self.refuse("below_shortlist_threshold")

    def schedule_interview(
        self,
        starts_at: datetime,
        ends_at: datetime,
        location: str | None,
        video_url: str | None,
        notice: tuple[int, bool],
    ) -> None:
        """`notice`: whole days ahead, and whether that is short of the rule's notice."""
        self.check_interviewable()
        notice_days, short_notice = notice
        self.events.append(
            events.InterviewScheduled(
                application_id=self.application_id,
                starts_at=starts_at,
                ends_at=ends_at,
                location=location,
                video_url=video_url,
                level=self.level,
                notice_days=notice_days,
                short_notice=short_notice,
            )
        )

    def check_interviewable(self) -> None:
        if self.status is not Status.SHORTLISTED:
            raise WrongStep(f"the file is {self.status.value}, not waiting for its interview")

    def record_interview(
        self, attended: bool, score: float | None, notes: str | None = None
    ) -> None:
        """An interview scored, or an absence: an absent candidate is refused. The
        notes are kept with the file, never put in the event."""
        self.check_interviewable()
        if attended and score is None:
            raise WrongStep("an attended interview needs a score")
        self.interview_notes = notes
        self.events.append(
            events.InterviewRecorded(
                application_id=self.application_id,
                attended=attended,
                score=score,
                level=self.level,
            )
        )
        if attended:
            self.status, self.interview_score = Status.INTERVIEWED, score
        else:
            self.refuse("absent_from_interview")

    def close_before_committee(self) -> bool:
        """At its round's committee: a file the committee cannot rank is refused
        (`ineligible` if its prerequisites failed and staff did not override them, else
        `not_ranked_in_time`); so is an interviewed file staff declared ineligible since
        (`ineligible`: staff's word stands at any step). False for a file the committee
        ranks or already decided."""
        if self.status is Status.INTERVIEWED and not self.eligible:
            self.refuse("ineligible")
            return True
        if self.status not in UNFINISHED:
            return False
        self.refuse("not_ranked_in_time" if self.eligible else "ineligible")
        return True

    def refuse(self, reason: str) -> None:
        """Selection's refusal, from review to the committee."""
        if self.status not in BEFORE_COMMITTEE:
            raise WrongStep(f"the file is {self.status.value}: it cannot be refused now")
        self.status, self.refusal_reason = Status.REFUSED, reason
        self.events.append(
            events.Refused(application_id=self.application_id, reason=reason, level=self.level)
        )
