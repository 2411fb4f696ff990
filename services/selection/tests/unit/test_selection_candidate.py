"""One file's steps before the committee: which are allowed where, and what each tells."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from ifuno_selection.domain.candidate import Candidate, Status, WrongStep
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import Level, Round
from ifuno_shared.events import selection as e

pytestmark = pytest.mark.unit

AT = datetime(2027, 5, 2, 9, 0, tzinfo=PARIS)
SLOT = datetime(2027, 6, 1, 9, 0, tzinfo=PARIS)
GOOD = {"training_involvement": 4, "digital_practice": 4, "project": 4, "study_capacity": 4}
POOR = {"training_involvement": 2, "digital_practice": 2, "project": 2, "study_capacity": 2}


def file(status: Status = Status.IN_REVIEW, eligible: bool = True) -> Candidate:
    who = Candidate.received("A-1", 2027, Level.M1, Round.MAIN, eligible)
    who.status = status
    return who


def shortlisted() -> Candidate:
    who = file()
    who.review([GOOD], False, reviews_required=1, shortlist_threshold=10)
    who.events.clear()
    return who


def names(who: Candidate) -> list[str]:
    return [type(event).__name__ for event in who.events]


def test_a_complete_file_enters_review_once() -> None:
    who = Candidate.received("A-1", 2027, Level.M1, Round.MAIN, eligible=False)
    assert who.complete(AT, eligible=None)
    assert (who.status, who.completed_at, who.eligible) == (Status.IN_REVIEW, AT, False)
    assert not who.complete(AT + timedelta(hours=1), eligible=True)
    assert (who.completed_at, who.eligible) == (AT, False)
    assert who.events == []


def test_a_review_short_of_the_reviewers_required_scores_without_deciding() -> None:
    who = file()
    who.review([GOOD], by_video=True, reviews_required=2, shortlist_threshold=10)
    assert (who.status, who.file_score, who.interview_by_video) == (Status.IN_REVIEW, 16, True)
    assert who.events == []


def test_a_review_at_the_threshold_shortlists_and_below_it_refuses() -> None:
    good = file()
    good.review([GOOD, POOR], False, reviews_required=2, shortlist_threshold=12)
    assert good.status is Status.SHORTLISTED
    assert good.events == [e.Shortlisted(application_id="A-1", level=Level.M1, file_score=12)]
    poor = file()
    poor.review([POOR], False, reviews_required=1, shortlist_threshold=12)
    assert (poor.status, poor.refusal_reason) == (Status.REFUSED, "below_shortlist_threshold")
    assert poor.events == [
        e.Refused(application_id="A-1", reason="below_shortlist_threshold", level=Level.M1)
    ]


@pytest.mark.parametrize(
    ("status", "eligible"),
    [(Status.RECEIVED, True), (Status.SHORTLISTED, True), (Status.IN_REVIEW, False)],
)
def test_only_an_eligible_file_in_review_is_reviewed(status: Status, eligible: bool) -> None:
    who = file(status, eligible)
    with pytest.raises(WrongStep):
        who.review([GOOD], False, reviews_required=1, shortlist_threshold=10)
    assert (who.status, who.file_score, who.events) == (status, None, [])


def test_an_interview_is_scheduled_for_a_shortlisted_file_only() -> None:
    who = shortlisted()
    who.schedule_interview(SLOT, SLOT + timedelta(minutes=30), "Le Mans", None, (3, True))
    assert names(who) == ["InterviewScheduled"]
    scheduled = who.events[0]
    assert isinstance(scheduled, e.InterviewScheduled)
    assert (scheduled.notice_days, scheduled.short_notice) == (3, True)
    with pytest.raises(WrongStep):
        file().schedule_interview(SLOT, SLOT + timedelta(minutes=30), "Le Mans", None, (8, False))


def test_an_attended_interview_is_scored() -> None:
    who = shortlisted()
    who.record_interview(attended=True, score=14)
    assert (who.status, who.interview_score, who.total) == (Status.INTERVIEWED, 14, 30)
    assert who.events == [
        e.InterviewRecorded(application_id="A-1", attended=True, score=14, level=Level.M1)
    ]


def test_an_absence_is_recorded_then_refused() -> None:
    who = shortlisted()
    who.record_interview(attended=False, score=None)
    assert (who.status, who.refusal_reason) == (Status.REFUSED, "absent_from_interview")
    assert names(who) == ["InterviewRecorded", "Refused"]


def test_an_interview_result_needs_a_score_and_a_waiting_interview() -> None:
    who = shortlisted()
    with pytest.raises(WrongStep, match="score"):
        who.record_interview(attended=True, score=None)
    assert (who.status, who.events) == (Status.SHORTLISTED, [])
    with pytest.raises(WrongStep, match="in_review"):
        file().record_interview(attended=True, score=12)


@pytest.mark.parametrize("status", [Status.IN_REVIEW, Status.SHORTLISTED, Status.INTERVIEWED])
def test_selection_refuses_from_review_to_the_committee(status: Status) -> None:
    who = file(status)
    who.refuse("below_admission_threshold")
    assert (who.status, who.refusal_reason) == (Status.REFUSED, "below_admission_threshold")
    assert names(who) == ["Refused"]


@pytest.mark.parametrize("status", [Status.RECEIVED, Status.OFFERED, Status.REFUSED])
def test_no_refusal_before_review_or_after_the_committee(status: Status) -> None:
    with pytest.raises(WrongStep):
        file(status).refuse("ineligible")


def test_candidature_closes_a_file_not_at_an_end_yet() -> None:
    who = file(Status.RECEIVED)
    assert who.close("incomplete_at_deadline")
    assert (who.status, who.refusal_reason) == (Status.CLOSED, "incomplete_at_deadline")
    assert not who.close("campaign_closed")
    assert who.refusal_reason == "incomplete_at_deadline"
    assert who.events == []


def test_a_withdrawal_ends_a_file_unless_it_holds_a_place() -> None:
    who = file(Status.SHORTLISTED)
    assert who.withdraw() and who.status is Status.WITHDRAWN
    assert not who.withdraw()
    for placed in (Status.OFFERED, Status.ACCEPTED, Status.WAITLISTED):
        with pytest.raises(WrongStep, match="places"):
            file(placed).withdraw()


def test_eligibility_overridden_by_staff_opens_the_review() -> None:
    who = file(eligible=False)
    who.override_eligibility(True)
    who.review([GOOD], False, reviews_required=1, shortlist_threshold=10)
    assert who.status is Status.SHORTLISTED


def test_at_the_committee_no_file_is_left_undecided() -> None:
    unreviewed, not_interviewed, ineligible = file(), shortlisted(), file(eligible=False)
    interviewed = shortlisted()
    interviewed.record_interview(attended=True, score=12)
    for who in (unreviewed, not_interviewed, ineligible):
        who.events.clear()
        assert who.close_before_committee()
    assert [(w.status, w.refusal_reason) for w in (unreviewed, not_interviewed, ineligible)] == [
        (Status.REFUSED, "not_ranked_in_time"),
        (Status.REFUSED, "not_ranked_in_time"),
        (Status.REFUSED, "ineligible"),
    ]
    assert unreviewed.events == [
        e.Refused(application_id="A-1", reason="not_ranked_in_time", level=Level.M1)
    ]
    assert not interviewed.close_before_committee()  # the committee ranks it
    assert not file(Status.RECEIVED).close_before_committee()  # candidature closes those


def test_an_interviewed_file_staff_declared_ineligible_is_refused_at_the_committee() -> None:
    who = shortlisted()
    who.record_interview(attended=True, score=16)
    who.override_eligibility(False)
    who.events.clear()
    assert who.close_before_committee()
    assert (who.status, who.refusal_reason) == (Status.REFUSED, "ineligible")
    assert who.events == [e.Refused(application_id="A-1", reason="ineligible", level=Level.M1)]
