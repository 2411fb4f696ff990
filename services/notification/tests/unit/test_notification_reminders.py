"""When a reminder is due: the one definition (the database compares the clock with the
window the domain computed, see the repository's integration tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ifuno_notification.domain.messages import DueWindow, Recipient, messages_for
from ifuno_shared.calendar import PARIS
from ifuno_shared.events import Level, Regime
from ifuno_shared.events import candidature as c
from ifuno_shared.events import selection as s

pytestmark = pytest.mark.unit

DEADLINE = datetime(2027, 5, 15, 23, 59, tzinfo=PARIS)
OFFER_DEADLINE = datetime(2027, 7, 2, 23, 59, tzinfo=PARIS)


def recipient(**state: object) -> Recipient:
    contact = c.Contact(
        candidate_id="C-1", first_name="Zoé", last_name="Maïté", email="a-1@example.org"
    )
    return Recipient(
        application_id="A-1",
        campaign=2027,
        level=Level.M1,
        regime=Regime.FORMATION_INITIALE,
        contact=contact,
        **state,  # type: ignore[arg-type]
    )


def test_a_window_holds_its_opening_instant_and_not_its_closing_one() -> None:
    window = DueWindow(DEADLINE - timedelta(days=3), DEADLINE)
    assert DEADLINE - timedelta(days=3) in window
    assert DEADLINE - timedelta(microseconds=1) in window
    assert DEADLINE - timedelta(days=3, microseconds=1) not in window
    assert DEADLINE not in window


def test_an_incomplete_file_is_due_from_three_days_before_the_deadline_until_it() -> None:
    who = recipient(submitted_at=DEADLINE - timedelta(days=10), submission_deadline=DEADLINE)
    assert who.incomplete_reminder_window == DueWindow(DEADLINE - timedelta(days=3), DEADLINE)
    assert who.incomplete_reminder_due(DEADLINE - timedelta(days=3))
    assert not who.incomplete_reminder_due(DEADLINE - timedelta(days=3, minutes=1))
    assert not who.incomplete_reminder_due(DEADLINE)


def test_a_window_is_an_instant_whatever_the_offset_it_is_read_in() -> None:
    who = recipient(submission_deadline=DEADLINE)
    assert who.incomplete_reminder_due((DEADLINE - timedelta(days=3)).astimezone(UTC))


def test_a_file_there_at_the_opening_instant_is_reminded_one_sent_later_is_not() -> None:
    opens = DEADLINE - timedelta(days=3)
    assert recipient(submitted_at=opens, submission_deadline=DEADLINE).incomplete_reminder_window
    later = recipient(submitted_at=opens + timedelta(seconds=1), submission_deadline=DEADLINE)
    assert later.incomplete_reminder_window is None


@pytest.mark.parametrize(
    "state",
    [
        {"complete": True},
        {"closed": True},
        {"incomplete_reminded": True},
        {"submission_deadline": None},
    ],
)
def test_no_incomplete_reminder_for_a_file_complete_closed_reminded_or_without_deadline(
    state: dict[str, object],
) -> None:
    who = recipient(**{"submission_deadline": DEADLINE, **state})
    assert who.incomplete_reminder_window is None
    assert not who.incomplete_reminder_due(DEADLINE - timedelta(days=1))


def test_once_reminded_a_file_has_no_window_left() -> None:
    who = recipient(submission_deadline=DEADLINE)
    who.mark_incomplete_reminded()
    assert who.incomplete_reminder_window is None


def test_an_open_offer_is_due_from_two_days_before_it_expires_once_per_deadline() -> None:
    who = recipient(offer_open=True, offer_deadline=OFFER_DEADLINE)
    assert who.offer_reminder_window == DueWindow(
        OFFER_DEADLINE - timedelta(days=2), OFFER_DEADLINE
    )
    assert who.offer_reminder_due(OFFER_DEADLINE - timedelta(days=2))
    assert not who.offer_reminder_due(OFFER_DEADLINE - timedelta(days=2, seconds=1))
    assert not who.offer_reminder_due(OFFER_DEADLINE)
    who.mark_offer_reminded()
    assert who.offer_reminder_window is None
    later = OFFER_DEADLINE + timedelta(days=10)
    who.apply(
        s.Admitted(application_id="A-1", level="M1", offer_deadline=later, from_waitlist=True)
    )
    assert who.offer_reminder_window == DueWindow(later - timedelta(days=2), later)


def test_an_answered_offer_has_no_window() -> None:
    assert recipient(offer_open=False, offer_deadline=OFFER_DEADLINE).offer_reminder_window is None


def test_a_closed_application_has_no_offer_window() -> None:
    assert (
        recipient(closed=True, offer_open=True, offer_deadline=OFFER_DEADLINE).offer_reminder_window
        is None
    )


@pytest.mark.parametrize(
    "closing",
    [
        c.ApplicationWithdrawn(application_id="A-1"),
        c.ApplicationRefused(application_id="A-1", reason="incomplete_at_deadline"),
        s.Refused(application_id="A-1", reason="ineligible"),
    ],
)
def test_an_offer_read_after_the_closing_of_the_application_is_not_reminded(
    closing: c.ApplicationWithdrawn | c.ApplicationRefused | s.Refused,
) -> None:
    """Topics are read independently: the withdrawal may come before the admission."""
    who = recipient()
    who.apply(closing)
    who.apply(
        s.Admitted(
            application_id="A-1", level="M1", offer_deadline=OFFER_DEADLINE, from_waitlist=False
        )
    )
    assert not who.offer_open
    assert who.offer_reminder_window is None
    assert not who.offer_reminder_due(OFFER_DEADLINE - timedelta(days=1))


def admitted(deadline: datetime = OFFER_DEADLINE) -> s.Admitted:
    return s.Admitted(application_id="A-1", level="M1", offer_deadline=deadline, from_waitlist=True)


def test_an_offer_made_within_two_days_of_its_deadline_has_no_reminder() -> None:
    """A late promotion whose deadline is capped at the eve of the academic year: the
    offer itself gives the deadline, a reminder right after it would only repeat it."""
    opens = OFFER_DEADLINE - timedelta(days=2)
    late = recipient()
    late.apply(admitted(), at=opens + timedelta(seconds=1))
    assert late.offer_open
    assert late.offer_reminder_window is None
    assert not late.offer_reminder_due(opens + timedelta(minutes=1))
    at_opening = recipient()
    at_opening.apply(admitted(), at=opens)
    assert at_opening.offer_reminder_window == DueWindow(opens, OFFER_DEADLINE)


def test_a_later_offer_made_in_time_is_reminded_again() -> None:
    who = recipient()
    who.apply(admitted(), at=OFFER_DEADLINE - timedelta(hours=3))
    assert who.offer_reminder_window is None
    who.apply(s.OfferExpired(application_id="A-1"), at=OFFER_DEADLINE)
    later = OFFER_DEADLINE + timedelta(days=7)
    who.apply(admitted(later), at=OFFER_DEADLINE + timedelta(hours=1))
    assert who.offer_reminder_window == DueWindow(later - timedelta(days=2), later)


EXTENDED = datetime(2027, 5, 22, 23, 59, tzinfo=PARIS)


def moved(deadline: datetime = EXTENDED, complete: bool = False) -> c.SubmissionDeadlineMoved:
    return c.SubmissionDeadlineMoved(
        application_id="A-1",
        campaign=2027,
        round="main",
        submission_deadline=deadline,
        complete=complete,
    )


def test_a_moved_deadline_moves_the_incomplete_reminder_even_once_reminded() -> None:
    who = recipient(submitted_at=DEADLINE - timedelta(days=10), submission_deadline=DEADLINE)
    who.mark_incomplete_reminded()
    who.apply(moved())
    assert who.incomplete_reminder_window == DueWindow(EXTENDED - timedelta(days=3), EXTENDED)
    who.mark_incomplete_reminded()
    who.apply(moved())  # the same deadline again: no second reminder
    assert who.incomplete_reminder_window is None


def test_a_complete_file_whose_deadline_moves_is_neither_reminded_nor_told() -> None:
    who = recipient(submitted_at=DEADLINE - timedelta(days=10), submission_deadline=DEADLINE)
    assert messages_for(moved(complete=True), who) == []
    who.apply(moved(complete=True))
    assert who.incomplete_reminder_window is None


def test_an_open_incomplete_file_is_told_its_new_deadline_while_it_is_ahead() -> None:
    who = recipient(submitted_at=DEADLINE - timedelta(days=10), submission_deadline=DEADLINE)
    [told] = messages_for(moved(), who, at=DEADLINE - timedelta(days=1))
    assert told.template == "submission_deadline_moved"
    assert told.context["deadline"] == "samedi 22 mai 2027 à 23 h 59"
    shortened = DEADLINE - timedelta(days=5)
    assert messages_for(moved(shortened), who, at=DEADLINE - timedelta(days=4)) == []
    assert messages_for(moved(DEADLINE), who, at=DEADLINE - timedelta(days=1)) == []
    closed = recipient(submission_deadline=DEADLINE, closed=True)
    assert messages_for(moved(), closed, at=DEADLINE - timedelta(days=1)) == []
