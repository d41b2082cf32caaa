"""Deadline arithmetic. Foundation: plain calendar days in China Standard Time; the exact
Regulation counting (working days, holidays, 调休) replaces this in a later issue."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from shared.vocabulary import CST


def due_after(start: datetime, days: int) -> date:
    """The start day is excluded: N days from a start end on start date + N."""
    return start.astimezone(CST).date() + timedelta(days=days)


def clock_state(due: date, start: datetime, today: date, due_soon_share: float = 0.8) -> str:
    if today > due:
        return "overdue"
    total = (due - start.astimezone(CST).date()).days or 1
    used = (today - start.astimezone(CST).date()).days
    return "due_soon" if used / total >= due_soon_share else "on_time"
