"""Video reception rules without I/O: which slots the bureau may propose (working days incl.
调休, the reception hours in China time, never across a break), the reminder leads due, the
petition bureau of a case and who counts as it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from shared.auth import Principal
from shared.calendar import default_calendar
from shared.settings import CommonSettings
from tracking.receptions import (
    bureau_of,
    due_leads,
    is_bureau,
    meeting_url,
    parse_hours,
    participants,
    slot_problem,
)
from tracking.webhooks_api import check_event_types, deliverable_types

CST = timezone(timedelta(hours=8))
NOW = datetime(2025, 9, 20, tzinfo=UTC)
HOURS = parse_hours("09:00-12:00,13:30-17:30")
CALENDAR = default_calendar()


def problem(start: datetime, minutes: int = 60) -> str | None:
    return slot_problem(start, minutes, NOW, CALENDAR, HOURS)


def test_hours_parse_into_minutes_of_the_day() -> None:
    assert HOURS == [(540, 720), (810, 1050)]


@pytest.mark.parametrize(
    "start, minutes",
    [
        (datetime(2025, 9, 29, 9, 0, tzinfo=CST), 60),  # Monday, first minute
        (datetime(2025, 9, 29, 11, 0, tzinfo=CST), 60),  # ends exactly at 12:00
        (datetime(2025, 9, 29, 13, 30, tzinfo=CST), 240),  # the whole afternoon
        (datetime(2025, 9, 28, 10, 0, tzinfo=CST), 30),  # a Sunday made a working day (调休)
        (datetime(2025, 9, 29, 2, 0, tzinfo=UTC), 60),  # 10:00 China time given in UTC
    ],
)
def test_slots_inside_one_period_of_a_working_day_are_accepted(
    start: datetime, minutes: int
) -> None:
    assert problem(start, minutes) is None


def test_a_slot_straddling_the_lunch_break_is_refused() -> None:
    why = problem(datetime(2025, 9, 29, 11, 30, tzinfo=CST), 60)
    assert why and "11:30-12:30" in why and "09:00-12:00, 13:30-17:30" in why


@pytest.mark.parametrize(
    "start, expected",
    [
        (datetime(2025, 10, 1, 10, 0, tzinfo=CST), "2025-10-01 is not an official working day"),
        (datetime(2025, 9, 27, 10, 0, tzinfo=CST), "2025-09-27 is not an official working day"),
        (datetime(2025, 9, 29, 8, 30, tzinfo=CST), "not inside one reception period"),
        (datetime(2025, 9, 29, 17, 0, tzinfo=CST), "not inside one reception period"),
        (datetime(2025, 9, 19, 10, 0, tzinfo=CST), "must be in the future"),
        (datetime(2025, 9, 29, 10, 0), "give a time zone"),
    ],
)
def test_slots_outside_working_time_are_refused_with_the_reason(
    start: datetime, expected: str
) -> None:
    why = problem(start)
    assert why is not None and expected in why


def test_reminder_leads_are_due_once_each_and_never_after_the_start() -> None:
    start = NOW + timedelta(hours=30)
    assert due_leads(start, NOW, [1440, 60], []) == []
    day_before = start - timedelta(minutes=1440)
    assert due_leads(start, day_before, [1440, 60], []) == [1440]
    assert due_leads(start, day_before, [1440, 60], [1440]) == []
    hour_before = start - timedelta(minutes=59)
    assert due_leads(start, hour_before, [1440, 60], [1440]) == [60]
    assert due_leads(start, hour_before, [1440, 60], []) == [60, 1440]  # scheduled late
    assert due_leads(start, start, [1440, 60], []) == []


def test_the_bureau_of_a_case_is_its_countys_and_who_counts_as_it() -> None:
    assert bureau_of("110105012") == "110105:petition_bureau"
    region = "110105012"
    yes = [
        Principal("op", "operator"),
        Principal("op", "operator", region_code="110000"),
        Principal("op", "operator", region_code="110105"),
        Principal("u", "unit", unit_id="110105:petition_bureau"),
        Principal("u", "unit", unit_id="1101:petition_bureau"),
        Principal("u", "unit", unit_id="11:petition_bureau"),
        Principal("u", "unit", unit_id="110000:petition_bureau"),
    ]
    no = [
        Principal("op", "operator", region_code="310000"),
        Principal("u", "unit", unit_id="110105:hrss"),
        Principal("u", "unit", unit_id="110106:petition_bureau"),
        Principal("u", "unit", unit_id="31:petition_bureau"),
        Principal("p", "petitioner"),
    ]
    assert all(is_bureau(p, region) for p in yes)
    assert not any(is_bureau(p, region) for p in no)


def test_participants_are_the_bureau_the_lead_and_co_handlers_once_each() -> None:
    got = participants("110105:petition_bureau", "110105:hrss", ["110105:housing", "110105:hrss"])
    assert got == [
        ("110105:petition_bureau", "bureau"),
        ("110105:hrss", "lead"),
        ("110105:housing", "co"),
    ]
    assert participants("110105:petition_bureau", "110105:petition_bureau", None) == [
        ("110105:petition_bureau", "bureau")
    ]


def test_settings_defaults_and_the_meeting_link() -> None:
    settings = CommonSettings()
    assert settings.reception_hours == "09:00-12:00,13:30-17:30"
    assert settings.reception_reminder_minutes == [1440, 60]
    assert meeting_url(settings.reception_meeting_url, "abc") == (
        "https://meeting.invalid/xinfang/abc"
    )
    with pytest.raises(ValueError, match="RECEPTION_HOURS"):
        CommonSettings(reception_hours="12:00-09:00")
    with pytest.raises(ValueError, match="REMINDER"):
        CommonSettings(reception_reminder_minutes=[0])


def test_webhooks_accept_the_reception_event_types() -> None:
    types = [
        f"tracking.reception.{name}.v1"
        for name in ("requested", "invited", "scheduled", "reminder", "cancelled", "held")
    ]
    assert check_event_types(types) == sorted(types)
    assert set(types) <= set(deliverable_types())
