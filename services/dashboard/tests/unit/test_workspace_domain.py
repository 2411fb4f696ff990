"""The workspace's pure parts: the committee's forecast and minutes, the interview
calendar, French dates."""

from __future__ import annotations

from datetime import datetime

import pytest
from ifuno_dashboard.domain import committee, french, ics
from ifuno_shared.calendar import PARIS

pytestmark = pytest.mark.unit

RULES = {"admission_threshold": 24.0, "waitlist_threshold": 20.0}


def ranked(application_id: str, total: float, status: str = "interviewed", **more) -> dict:  # type: ignore[no-untyped-def]
    return {
        "application_id": application_id,
        "file_score": total / 2,
        "interview_score": total / 2,
        "total": total,
        "status": status,
        **more,
    }


def test_the_forecast_follows_the_committee_rules_and_explains_ties() -> None:
    ranking = [ranked("A", 30), ranked("B", 26), ranked("C", 26), ranked("D", 22), ranked("E", 19)]
    rows = committee.rows(ranking, RULES, free_places=2)
    assert [(r.application_id, r.outcome, r.waitlist_rank) for r in rows] == [
        ("A", "admitted", None),
        ("B", "admitted", None),
        ("C", "waitlisted", 1),
        ("D", "waitlisted", 2),
        ("E", "refused", None),
    ]
    assert rows[2].tie_note is not None and "B" in rows[2].tie_note
    assert rows[1].tie_note is None


def test_places_left_empty_go_to_the_waitlist_in_the_forecast() -> None:
    rows = committee.rows([ranked("A", 30), ranked("B", 21)], RULES, free_places=5)
    assert [(r.outcome, r.from_waitlist) for r in rows] == [("admitted", False), ("admitted", True)]


def test_after_the_decision_the_minutes_say_what_was_decided() -> None:
    ranking = [
        ranked("A", 31, "accepted"),
        ranked("B", 21, "waitlisted", waitlist_rank=1),
        ranked("C", 18.5, "refused"),
    ]
    assert committee.decided(ranking)
    lines = committee.csv_lines("M1", committee.rows(ranking, RULES, free_places=0))
    assert {len(line) for line in lines} == {9}
    assert lines[1][:8] == ["1", "A", "M1", "15,50", "15,50", "31,00", "admis", ""]
    assert lines[2][6:8] == ["liste complémentaire", "1"]
    assert lines[3][5:7] == ["18,50", "refusé"]


def test_staff_notes_go_with_the_committee_rows_never_in_the_minutes() -> None:
    noted = ranked(
        "A",
        31,
        "accepted",
        review_notes=[{"reviewer": "r.dupont", "reviewed_at": "…", "note": "Projet solide."}],
        interview_notes="Très motivée.",
    )
    rows = committee.rows([noted, ranked("B", 21, "waitlisted")], RULES, free_places=0)
    assert rows[0].review_notes == (("r.dupont", "Projet solide."),)
    assert rows[0].interview_notes == "Très motivée."
    assert (rows[1].review_notes, rows[1].interview_notes) == ((), None)
    minutes = repr(committee.csv_lines("M1", rows))
    assert "Projet" not in minutes and "motivée" not in minutes


def test_the_calendar_names_no_one_and_folds_long_lines() -> None:
    start = datetime(2027, 6, 7, 9, 30, tzinfo=PARIS)
    slot = {
        "application_id": "IFUNO-2027-0001",
        "level": "M1",
        "starts_at": start,
        "ends_at": start.replace(minute=59),
        "location": "Le Mans Université, avenue Olivier Messiaen, 72085 Le Mans; salle 12",
        "video_url": None,
    }
    text = ics.calendar([slot], 2027, start)
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert "DTSTART:20270607T073000Z" in text
    assert "\\;" in text and "\\," in text
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))


def test_dates_in_french() -> None:
    at = datetime(2027, 6, 7, 7, 30, tzinfo=PARIS).astimezone(PARIS)
    assert french.moment(at) == "lundi 7 juin 2027 à 07 h 30"
    assert french.day("2027-08-01T10:00:00+00:00") == "dimanche 1 août 2027"
    assert french.score(15.5) == "15,5" and french.score(16.0) == "16"
