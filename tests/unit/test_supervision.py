"""Supervision rules (PROCEDURE §5, §7): what a clock becomes on a day, which petition bureau
supervises a unit, where unanswered supervision escalates, and the ids lists page by."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from tracking.supervision import (
    MANUAL_REASONS,
    REASONS,
    bureau_above,
    bureau_of,
    clock_step,
    measure,
    new_id,
)

DUE = date(2025, 3, 18)
SOON = date(2025, 3, 15)


@pytest.mark.parametrize(
    ("state", "today", "action", "next_check"),
    [
        ("on_time", SOON, "due_soon", DUE + timedelta(days=1)),
        ("on_time", DUE, "due_soon", DUE + timedelta(days=1)),  # first seen on the last day
        ("on_time", DUE + timedelta(days=1), "overdue", None),  # skipped due-soon: overdue
        ("due_soon", DUE + timedelta(days=1), "overdue", None),
        ("due_soon", DUE + timedelta(days=40), "overdue", None),
        ("on_time", SOON - timedelta(days=2), "recheck", SOON),  # looked at too early
        ("due_soon", DUE, "recheck", DUE + timedelta(days=1)),  # on time on its last day
    ],
)
def test_what_a_clock_becomes_on_a_day(
    state: str, today: date, action: str, next_check: date | None
) -> None:
    step = clock_step(state, DUE, SOON, today)
    assert (step.action, step.next_check) == (action, next_check)


def test_a_recheck_always_moves_the_check_day_forward() -> None:
    # a clock read on a day past its due-soon day but already due soon (never loops)
    step = clock_step("due_soon", DUE, SOON, SOON)
    assert step.next_check is not None and step.next_check > SOON


@pytest.mark.parametrize(
    ("unit_id", "bureau"),
    [
        ("110107:hrss", "110107:petition_bureau"),
        ("110107011:township", "110107:petition_bureau"),  # a township: its county's bureau
        ("441900101:township", "441900:petition_bureau"),  # a city without counties
        ("110000:housing", "110000:petition_bureau"),
        ("000000:hrss", "000000:petition_bureau"),
        ("110107:housing:2", "110107:petition_bureau"),  # an operator-added unit
        ("110107:petition_bureau", "110000:petition_bureau"),  # never supervises itself
        ("000000:petition_bureau", "000000:petition_bureau"),
    ],
)
def test_the_bureau_that_supervises_a_unit(unit_id: str, bureau: str) -> None:
    assert bureau_of(unit_id) == bureau


@pytest.mark.parametrize(
    ("bureau", "above"),
    [
        ("110107:petition_bureau", "110000:petition_bureau"),  # Beijing's districts: the city
        ("210112:petition_bureau", "210100:petition_bureau"),  # 浑南区 -> 沈阳市
        ("210100:petition_bureau", "210000:petition_bureau"),
        ("210000:petition_bureau", "000000:petition_bureau"),
        ("000000:petition_bureau", "000000:petition_bureau"),  # the national bureau stays
        ("219999:petition_bureau", "210000:petition_bureau"),  # unknown county: its province
    ],
)
def test_escalation_goes_to_the_bureau_one_level_up(bureau: str, above: str) -> None:
    assert bureau_above(bureau) == above


def test_measures_grow_with_the_level_and_stop_at_named_supervision() -> None:
    assert [measure(n) for n in range(6)] == [
        "supervision",
        "talk",
        "circular",
        "named_supervision",
        "named_supervision",
        "named_supervision",
    ]


def test_reasons() -> None:
    assert "overdue" in REASONS and "overdue" not in MANUAL_REASONS
    assert set(MANUAL_REASONS) == {
        "passing_the_buck",
        "false_report",
        "not_carried_out",
        "procedural_violation",
    }


def test_ids_are_uuid7_and_ordered_by_time() -> None:
    ids = [new_id() for _ in range(3)]
    assert all(uuid.UUID(i).version == 7 and len(i) == 36 for i in ids)
    later = new_id()
    assert ids[0][:8] <= later[:8]  # the millisecond timestamp leads
