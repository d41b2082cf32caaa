"""The clocks of a case (PROCEDURE.md §5) over the official calendar (``shared.calendar``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from shared.calendar import WorkCalendar, default_calendar
from shared.settings import CommonSettings
from shared.vocabulary import CST


@dataclass(frozen=True)
class RoutedClocks:
    acceptance_due: date  # 15 days (Art. 23), moved off rest days
    objection_due: date  # 5 working days (Art. 23)
    provisional: bool  # a day counted lies in a year without official calendar data


def calendar_of(settings: CommonSettings) -> WorkCalendar:
    return default_calendar(settings.holidays_file)


def routed_clocks(settings: CommonSettings, routed_at: datetime) -> RoutedClocks:
    """The clocks that start when a unit receives a case."""
    calendar = calendar_of(settings)
    acceptance = calendar.due(routed_at, settings.acceptance_days)
    objection = calendar.due(routed_at, settings.objection_working_days, "working")
    return RoutedClocks(
        acceptance.date, objection.date, acceptance.provisional or objection.provisional
    )


def today_cst(now: datetime) -> date:
    return now.astimezone(CST).date()


def clock_state(due: date, start: datetime, today: date, due_soon_share: float = 0.8) -> str:
    if today > due:
        return "overdue"
    total = (due - start.astimezone(CST).date()).days or 1
    used = (today - start.astimezone(CST).date()).days
    return "due_soon" if used / total >= due_soon_share else "on_time"
