"""How a deadline is shown (tracking/views.py) and when it becomes due soon (tracking/store.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from tracking.store import due_soon_on
from tracking.views import clock_view


@pytest.mark.parametrize(
    ("start", "due", "soon"),
    [
        (date(2026, 3, 1), date(2026, 3, 31), date(2026, 3, 25)),  # 80% of 30 days = 24
        (date(2026, 3, 1), date(2026, 3, 6), date(2026, 3, 5)),  # ceil(4.0) = 4
        (date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 2)),  # never before the next day
        (date(2026, 3, 1), date(2026, 3, 1), date(2026, 3, 1)),  # a zero-length clock
    ],
)
def test_due_soon_at_eighty_percent(start: date, due: date, soon: date) -> None:
    assert due_soon_on(start, due) == soon


def clock(**over):
    base = dict(
        due=date(2026, 3, 31),
        due_soon_on=date(2026, 3, 25),
        basis="b",
        unit_id="110107:hrss",
        stopped_at=None,
        met=None,
        provisional=False,
    )
    return SimpleNamespace(**{**base, **over})


@pytest.mark.parametrize(
    ("today", "state"),
    [
        (date(2026, 3, 24), "on_time"),
        (date(2026, 3, 25), "due_soon"),
        (date(2026, 3, 31), "due_soon"),  # the last day is still in time
        (date(2026, 4, 1), "overdue"),
    ],
)
def test_a_running_clock_is_judged_today(today: date, state: str) -> None:
    assert clock_view(clock(), today)["state"] == state


def test_a_finished_clock_says_whether_it_was_met() -> None:
    done = clock(stopped_at=datetime(2026, 3, 31, 20, 0, tzinfo=UTC), met=False)
    view = clock_view(done, date(2026, 4, 5))
    assert view["state"] == "missed"
    assert view["done_on"] == "2026-04-01"  # 20:00 UTC is the next day in Beijing


def test_a_provisional_clock_says_so() -> None:
    view = clock_view(clock(provisional=True), date(2026, 3, 1))
    assert view["provisional"] is True and "Monday to Friday" in view["note"]
