"""The campaign calendar of RULES.md, for 2026 to 2030, in Paris time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from ifuno_shared.calendar import PARIS, InvalidCalendar, default_calendar, paris
from ifuno_shared.events import Phase

pytestmark = pytest.mark.unit

EXPECTED = {
    # year: (submissions open, interviews start, interviews end, committee,
    #        complementary interviews start, complementary committee, academic year)
    2026: ("04-27", "06-01", "06-12", "06-26", "08-24", "08-28", "09-07"),
    2027: ("04-26", "06-01", "06-14", "06-25", "08-23", "08-27", "09-06"),
    2028: ("04-24", "06-01", "06-14", "06-30", "08-21", "08-25", "09-04"),
    2029: ("04-30", "06-01", "06-14", "06-29", "08-27", "08-31", "09-03"),
    2030: ("04-29", "06-03", "06-14", "06-28", "08-26", "08-30", "09-02"),
}


def day(year: int, month_day: str) -> date:
    return date.fromisoformat(f"{year}-{month_day}")


@pytest.mark.parametrize("year", sorted(EXPECTED))
def test_default_calendar_follows_the_programme_page(year: int) -> None:
    opens, interviews, interviews_end, committee, late_interviews, late_committee, start = EXPECTED[
        year
    ]
    calendar = default_calendar(year)
    assert calendar.main_submissions_open == paris(day(year, opens), time(9, 0))
    assert calendar.main_submissions_open.weekday() == 0
    assert calendar.main_submissions_close == paris(date(year, 5, 15), time(23, 59))
    assert calendar.main_interviews_start == paris(day(year, interviews), time(9, 0))
    assert calendar.main_interviews_end == paris(day(year, interviews_end), time(17, 0))
    assert calendar.main_committee == paris(day(year, committee), time(14, 0))
    assert calendar.main_committee.weekday() == 4
    assert calendar.complementary_submissions_open == paris(date(year, 7, 1), time(0, 0))
    assert calendar.complementary_submissions_close == paris(date(year, 8, 15), time(23, 59))
    assert calendar.complementary_interviews_start == paris(day(year, late_interviews), time(9, 0))
    assert calendar.complementary_committee == paris(day(year, late_committee), time(14, 0))
    assert calendar.academic_year_start == paris(day(year, start), time(9, 0))


@pytest.mark.parametrize("year", sorted(EXPECTED))
def test_every_instant_is_in_paris_summer_time(year: int) -> None:
    for _, starts_at, _ in default_calendar(year).phases():
        assert starts_at.utcoffset() == timedelta(hours=2)


def test_the_main_deadline_is_2159_utc_in_summer_time() -> None:
    deadline = default_calendar(2027).main_submissions_close
    assert deadline.astimezone(UTC) == datetime(2027, 5, 15, 21, 59, tzinfo=UTC)


def test_an_override_across_the_october_change_keeps_wall_clock_time() -> None:
    calendar = default_calendar(2027).with_overrides(
        {"academic_year_start": paris(date(2027, 11, 2), time(9, 0))}
    )
    assert calendar.academic_year_start.utcoffset() == timedelta(hours=1)
    assert calendar.academic_year_start.astimezone(UTC).hour == 8


def test_the_ambiguous_hour_of_the_october_change_is_the_first_one() -> None:
    ambiguous = paris(date(2027, 10, 31), time(2, 30))
    assert ambiguous.utcoffset() == timedelta(hours=2)
    assert ambiguous.replace(fold=1).utcoffset() == timedelta(hours=1)


def test_phases_are_nine_and_in_order() -> None:
    phases = default_calendar(2027).phases()
    assert [phase for phase, _, _ in phases] == list(Phase)
    starts = [starts_at for _, starts_at, _ in phases]
    assert starts == sorted(starts)
    assert all(starts_at < ends_at for _, starts_at, ends_at in phases)


def test_phases_between_lists_every_phase_jumped_over_in_order() -> None:
    calendar = default_calendar(2027)
    jumped = calendar.phases_between(
        datetime(2027, 5, 1, tzinfo=PARIS), datetime(2027, 6, 30, tzinfo=PARIS)
    )
    assert jumped == [Phase.MAIN_SUBMISSIONS_CLOSED, Phase.MAIN_INTERVIEWS, Phase.MAIN_COMMITTEE]
    assert calendar.phases_between(None, calendar.main_submissions_open) == [
        Phase.MAIN_SUBMISSIONS_OPEN
    ]


def test_phase_at_is_none_before_the_campaign() -> None:
    calendar = default_calendar(2027)
    assert calendar.phase_at(datetime(2027, 4, 1, tzinfo=PARIS)) is None
    assert calendar.phase_at(calendar.main_committee) is Phase.MAIN_COMMITTEE


def test_a_committee_before_the_interviews_is_refused_with_the_reason() -> None:
    with pytest.raises(
        InvalidCalendar, match=r"main_committee .* must come after main_interviews_end"
    ):
        default_calendar(2027).with_overrides(
            {"main_committee": paris(date(2027, 6, 2), time(14, 0))}
        )


def test_an_unknown_date_name_is_refused() -> None:
    with pytest.raises(InvalidCalendar, match="unknown calendar dates: rentree"):
        default_calendar(2027).with_overrides({"rentree": paris(date(2027, 9, 1), time(9, 0))})


def test_the_campaign_is_no_date_to_override() -> None:
    with pytest.raises(InvalidCalendar, match="unknown calendar dates: campaign"):
        default_calendar(2027).with_overrides({"campaign": paris(date(2027, 5, 20), time(23, 59))})


def test_a_date_without_offset_is_refused() -> None:
    with pytest.raises(InvalidCalendar, match="time zone"):
        default_calendar(2027).with_overrides({"main_submissions_close": datetime(2027, 5, 20)})
