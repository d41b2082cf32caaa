"""The official working-day calendar and deadline arithmetic (PROCEDURE.md §5).

Counting (Civil Code Art. 201, 203): the start day is excluded; a deadline of N calendar days
ends N days after the start day, moved to the next working day when it falls on a rest day; a
deadline of N working days ends on the N-th working day after the start day. Working days are
the official ones, make-up days (调休) included: the ``chinese-calendar`` package for the years
it knows, ``shared/data/holidays.json`` (or ``XINFANG_HOLIDAYS_FILE``) for later ones. A year
known to neither counts Monday to Friday, and the deadline says it is provisional.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import chinese_calendar
from pydantic import BeforeValidator

from shared.vocabulary import CST

Unit = Literal["calendar", "working"]
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: object) -> object:
    """Only ``YYYY-MM-DD``: pydantic alone reads ``20260930`` as Unix seconds (in 1970)."""
    if isinstance(value, str) and not _ISO_DAY.fullmatch(value):
        raise ValueError("must be a day as YYYY-MM-DD")
    return value


# A day given as text (a query parameter), e.g. ``start: Annotated[IsoDay, Query()]``.
IsoDay = Annotated[date, BeforeValidator(_iso_day)]

_PACKAGE_YEARS = range(
    min(chinese_calendar.constants.holidays).year,
    max(chinese_calendar.constants.holidays).year + 1,
)


@dataclass(frozen=True)
class YearDays:
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[date] = frozenset()


@dataclass(frozen=True)
class Due:
    date: date
    # True when a day counted lies in a year the calendar has no official data for
    provisional: bool = False


@dataclass(frozen=True, eq=False)
class WorkCalendar:
    years: Mapping[int, YearDays] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping) -> WorkCalendar:
        """Checked: a holiday that is not a date, or a make-up day outside its year, fails
        at start-up instead of shifting deadlines."""
        years: dict[int, YearDays] = {}
        for year, entry in (data.get("years") or {}).items():
            days = {}
            for kind in ("holidays", "workdays"):
                parsed = frozenset(date.fromisoformat(d) for d in entry.get(kind, ()))
                if wrong := sorted(d for d in parsed if d.year != int(year)):
                    raise ValueError(f"holidays: {year}: {kind} outside the year: {wrong}")
                days[kind] = parsed
            if both := days["holidays"] & days["workdays"]:
                raise ValueError(f"holidays: {year}: both rest and working day: {sorted(both)}")
            years[int(year)] = YearDays(**days)
        return cls(years)

    @classmethod
    def load(cls, path: str | Path | None = None) -> WorkCalendar:
        if path is None:
            text = resources.files("shared").joinpath("data/holidays.json").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        return cls.from_mapping(json.loads(text))

    def official(self, day: date) -> bool:
        """Whether the working days of ``day``'s year come from official data."""
        return day.year in self.years or day.year in _PACKAGE_YEARS

    def is_workday(self, day: date) -> bool:
        year = self.years.get(day.year)
        if year is not None:
            return day in year.workdays or (day.weekday() < 5 and day not in year.holidays)
        if day.year in _PACKAGE_YEARS:
            return bool(chinese_calendar.is_workday(day))
        return day.weekday() < 5

    def working_days_after(self, start: date, days: int) -> Due:
        """The ``days``-th working day after ``start`` (``start`` itself not counted)."""
        if days < 0:
            raise ValueError("days must not be negative")
        day, counted, provisional = start, 0, False
        while counted < days:
            day += timedelta(days=1)
            provisional |= not self.official(day)
            counted += self.is_workday(day)
        return Due(day, provisional)

    def calendar_days_after(self, start: date, days: int) -> Due:
        """``days`` calendar days after ``start``, moved to the next working day if it falls
        on a rest day."""
        if days < 0:
            raise ValueError("days must not be negative")
        day = start + timedelta(days=days)
        provisional = not self.official(day)
        while not self.is_workday(day):
            day += timedelta(days=1)
            provisional |= not self.official(day)
        return Due(day, provisional)

    def due(self, start: date | datetime, days: int, unit: Unit = "calendar") -> Due:
        """The deadline of a clock that starts at ``start`` (a moment is read in China
        Standard Time: a case received at 23:30 UTC starts the next day in Beijing)."""
        if isinstance(start, datetime):
            start = start.astimezone(CST).date()
        if unit == "working":
            return self.working_days_after(start, days)
        return self.calendar_days_after(start, days)


@cache
def default_calendar(path: str | None = None) -> WorkCalendar:
    """The calendar of this process: the packaged data, or the file a setting names."""
    return WorkCalendar.load(path)
