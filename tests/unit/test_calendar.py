"""Deadline arithmetic over the official calendar (shared/calendar.py, PROCEDURE §5), with
real dates around the 2026 Spring Festival and National Day, make-up days included."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from shared.calendar import WorkCalendar, default_calendar

CAL = default_calendar()


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        # an ordinary week: Mon 2026-11-23 + 5 working days = the next Monday
        (date(2026, 11, 23), 5, date(2026, 11, 30)),
        # Thu 2026-02-12: Fri 13, Sat 14 (make-up day), then the Spring Festival 15-23
        (date(2026, 2, 12), 5, date(2026, 2, 26)),
        # Sat 2026-02-14 is a working day: counting from it skips the whole holiday
        (date(2026, 2, 14), 1, date(2026, 2, 24)),
        # Wed 2026-09-30: National Day 1-7, Thu 8, Fri 9, Sat 10 (make-up), Mon 12, Tue 13
        (date(2026, 9, 30), 5, date(2026, 10, 13)),
        # Sun 2026-09-20 is a make-up day before National Day
        (date(2026, 9, 19), 1, date(2026, 9, 20)),
        # the start day is never counted, even when it is a working day
        (date(2026, 11, 27), 1, date(2026, 11, 30)),
        (date(2026, 11, 27), 0, date(2026, 11, 27)),
    ],
)
def test_working_days(start: date, days: int, due: date) -> None:
    result = CAL.due(start, days, "working")
    assert result.date == due
    assert not result.provisional


@pytest.mark.parametrize(
    ("start", "days", "due"),
    [
        # 15 days from Fri 2026-01-30 is Sat 2026-02-14, a make-up working day: it stays
        (date(2026, 1, 30), 15, date(2026, 2, 14)),
        # 15 days from 2026-02-01 is 02-16, inside the Spring Festival: the next working day
        (date(2026, 2, 1), 15, date(2026, 2, 24)),
        # 15 days from 2026-09-20 is 10-05, inside National Day: moved to Thu 10-08
        (date(2026, 9, 20), 15, date(2026, 10, 8)),
        # a plain Sunday moves to Monday
        (date(2026, 11, 14), 15, date(2026, 11, 30)),
        # 60 days from acceptance on a weekday, landing on a weekday
        (date(2026, 3, 2), 60, date(2026, 5, 6)),
    ],
)
def test_calendar_days_move_off_rest_days(start: date, days: int, due: date) -> None:
    assert CAL.calendar_days_after(start, days).date == due


def test_a_moment_is_read_in_china_standard_time() -> None:
    # 2026-11-26 17:00 UTC is already Friday the 27th in Beijing
    moment = datetime(2026, 11, 26, 17, 0, tzinfo=UTC)
    assert CAL.due(moment, 1, "working").date == date(2026, 11, 30)


def test_a_year_without_official_data_counts_weekdays_and_says_so() -> None:
    # 2027 is not in the package's data yet: Mon-Fri, marked provisional
    result = CAL.working_days_after(date(2026, 12, 28), 5)
    assert result.date == date(2027, 1, 4)
    assert result.provisional
    assert not CAL.working_days_after(date(2026, 12, 21), 5).provisional


def test_a_data_file_adds_a_year(tmp_path) -> None:
    data = {"years": {"2027": {"holidays": ["2027-01-01"], "workdays": ["2027-01-02"]}}}
    path = tmp_path / "holidays.json"
    path.write_text(json.dumps(data))
    cal = WorkCalendar.load(path)
    assert not cal.is_workday(date(2027, 1, 1))
    assert cal.is_workday(date(2027, 1, 2))  # a Saturday worked in lieu
    result = cal.working_days_after(date(2026, 12, 31), 2)
    assert result.date == date(2027, 1, 4) and not result.provisional


@pytest.mark.parametrize(
    ("year", "message"),
    [
        ({"2027": {"holidays": ["2028-01-01"]}}, "outside the year"),
        ({"2027": {"holidays": ["2027-01-02"], "workdays": ["2027-01-02"]}}, "both"),
    ],
)
def test_a_wrong_data_file_fails_at_load(year: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WorkCalendar.from_mapping({"years": year})


def test_negative_days_are_refused() -> None:
    with pytest.raises(ValueError):
        CAL.working_days_after(date(2026, 1, 1), -1)
