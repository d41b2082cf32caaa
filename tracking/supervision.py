"""Supervision (督办, PROCEDURE §7, Art. 38-40) and the clock scheduler's rules, without I/O.

What a clock that the scheduler looks at becomes today, what an overdue clock sets off, which
petition bureau supervises a unit, and where unanswered supervision escalates to.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from shared.regions import RegionDirectory

# Reasons an operator opens supervision by hand; an overdue clock opens it as ``overdue``
MANUAL_REASONS = ("passing_the_buck", "false_report", "not_carried_out", "procedural_violation")
REASONS = ("overdue", *MANUAL_REASONS)
STATUSES = ("open", "responded", "escalated", "closed")

# An overdue clock of these kinds is the unit's step not done in time: supervision opens
SUPERVISED_KINDS = ("acceptance", "handling", "report", "review", "rereview")
# The petitioner's window to ask for a review ran out: the case closes if still in this status
WINDOWS = {
    "review_request": ("replied", "no review requested within 30 days of the reply (Art. 35)"),
    "rereview_request": (
        "review_replied",
        "no re-review requested within 30 days of the review decision (Art. 36)",
    ),
}

# What each level of escalation means (Art. 38-40): the bureau's supervision, then a talk
# with the unit's leaders, a circular, and named supervision at the joint conference
MEASURES = ("supervision", "talk", "circular", "named_supervision")

NATIONAL = "000000"
BUREAU = "petition_bureau"

Action = Literal["overdue", "due_soon", "recheck"]


@dataclass(frozen=True)
class ClockStep:
    action: Action
    next_check: date | None


def clock_step(state: str, due: date, due_soon_on: date, today: date) -> ClockStep:
    """What a running clock whose check day has come becomes ``today``. A clock is on time
    up to and including its due day (a step done on the last day is on time, §5)."""
    if today > due:
        return ClockStep("overdue", None)
    if state == "on_time" and today >= due_soon_on:
        return ClockStep("due_soon", due + timedelta(days=1))
    # Nothing crossed: the next day something can (a check day set too early, a clock moved)
    later = due_soon_on if state == "on_time" else due + timedelta(days=1)
    return ClockStep("recheck", max(later, today + timedelta(days=1)))


def measure(level: int) -> str:
    return MEASURES[min(max(level, 0), len(MEASURES) - 1)]


def region_of(unit_id: str) -> str:
    """``110107:hrss`` -> ``110107``; ``110107:housing:2`` -> ``110107``."""
    return unit_id.split(":", 1)[0]


def bureau_of(unit_id: str, regions: RegionDirectory | None = None) -> str:
    """The petition bureau that supervises a unit: the bureau of the unit's region, at county
    level or above (a township's is its county's). A petition bureau is not supervised by
    itself but by the bureau one level up."""
    code = region_of(unit_id)
    if len(code) > 6:
        code = code[:6]
    bureau = f"{code}:{BUREAU}"
    if unit_id.split(":")[1:2] == [BUREAU]:
        return bureau_above(bureau, regions)
    return bureau


def bureau_above(bureau_unit_id: str, regions: RegionDirectory | None = None) -> str:
    """The petition bureau of the parent region; the national bureau stays where it is."""
    code = region_of(bureau_unit_id)[:6]
    return f"{parent_region(code, regions or RegionDirectory.default())}:{BUREAU}"


def parent_region(code: str, regions: RegionDirectory) -> str:
    """The short code of a county's, prefecture's or province's parent (``000000`` above a
    province). A code the directory does not know goes to its prefecture if that exists,
    else its province."""
    if code == NATIONAL:
        return NATIONAL
    try:
        region = regions.get(code)
    except ValueError:
        region = None
    if region is not None:
        return region.parent[:6] if region.parent else NATIONAL
    if code[2:] == "0000":
        return NATIONAL
    prefecture, province = code[:4] + "00", code[:2] + "0000"
    if code[4:] != "00" and regions.get(prefecture) is not None:
        return prefecture
    return province if regions.get(province) is not None else NATIONAL


def new_id() -> str:
    """A time-ordered UUID (version 7): supervision lists page by id in the order opened."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)
    return str(uuid.UUID(int=value))
