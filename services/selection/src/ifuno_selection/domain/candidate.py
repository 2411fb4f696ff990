"""One candidate's way through review and interview, before the committee."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from ifuno_shared.errors import Conflict
from ifuno_shared.events import Level, Round


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


FINAL = frozenset(
    {Status.REFUSED, Status.DECLINED, Status.EXPIRED, Status.WITHDRAWN, Status.CLOSED}
)


class WrongStep(Conflict):
    """A staff action that does not fit where the file is (HTTP 409)."""


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
    refusal_reason: str | None = None

    @property
    def total(self) -> float:
        return (self.file_score or 0.0) + (self.interview_score or 0.0)

    def check_reviewable(self) -> None:
        if self.status is not Status.IN_REVIEW:
            raise WrongStep(f"the file is {self.status.value}, not in review")
        if not self.eligible:
            raise WrongStep("the file failed a prerequisite check that staff did not override")

    def check_interviewable(self) -> None:
        if self.status is not Status.SHORTLISTED:
            raise WrongStep(f"the file is {self.status.value}, not waiting for its interview")
