"""The clocks of a case (PROCEDURE.md §5) over the official calendar (``shared.calendar``)."""

from __future__ import annotations

from datetime import date, datetime

from shared.calendar import WorkCalendar, default_calendar
from shared.settings import CommonSettings
from shared.vocabulary import CST


def calendar_of(settings: CommonSettings) -> WorkCalendar:
    return default_calendar(settings.holidays_file)


def today_cst(now: datetime) -> date:
    return now.astimezone(CST).date()


def clock_state(due: date, start: datetime, today: date, due_soon_share: float = 0.8) -> str:
    if today > due:
        return "overdue"
    total = (due - start.astimezone(CST).date()).days or 1
    used = (today - start.astimezone(CST).date()).days
    return "due_soon" if used / total >= due_soon_share else "on_time"
