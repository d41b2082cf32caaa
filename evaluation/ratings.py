"""Satisfaction ratings (PROCEDURE §8) as pure rules, no I/O: which cases may be rated, when
each moment's window is open, and until when a rating may be changed.

Two moments: ``acceptance`` (after the acceptance notice: was it accepted properly) and
``reply`` (after the written reply: was it solved). Only the petitioner of a first-time,
registered grievance with a clear identity rates; each moment once, within its window
(``XINFANG_RATING_WINDOW_DAYS`` from the moment, counted as the Regulation counts), changeable
for ``XINFANG_RATING_CHANGE_HOURS`` after the first rating. A window that closes without a
rating is stored as ``not_rated``, never as satisfied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from shared.calendar import WorkCalendar
from shared.vocabulary import CST

SCALE = ("satisfied", "basically_satisfied", "dissatisfied")
MOMENTS = ("acceptance", "reply")
DISSATISFIED = "dissatisfied"

Action = Literal["rate", "change"]


@dataclass(frozen=True)
class Refusal:
    """Why a rating is refused now (a 409): a stable ``reason`` code and words for people."""

    reason: str
    detail: str


@dataclass(frozen=True)
class Slot:
    """One moment of one case as stored: ``open``, ``rated`` or ``not_rated``."""

    state: str
    window_closes: date
    rated_at: datetime | None = None


def ineligible(case: Any) -> Refusal | None:
    """Why this case can never be rated, or None (``case`` has evaluation's case_reads
    columns). PROCEDURE §8: diverted cases, accusations and unclear identities are not rated;
    only a first-time grievance is (2005 Art. 22 proviso; a repeat is not a first time)."""
    if case.kind == "accusation":
        return Refusal(
            "accusation", "accusations are not rated (PROCEDURE §8): the reporter is protected"
        )
    if case.status == "diverted" or case.category == "litigation":
        return Refusal(
            "diverted",
            "a litigation-related case diverted to the legal channel (诉访分离) is not rated",
        )
    if case.kind != "grievance":
        return Refusal("not_a_grievance", f"only grievances are rated, not a {case.kind}")
    if case.proactive:
        return Refusal(
            "proactive", "a problem a grid worker registered has no petitioner to rate it"
        )
    if case.anonymous:
        return Refusal("anonymous", "an anonymous petition is not rated")
    if case.identity_unclear:
        return Refusal(
            "identity_unclear",
            "the petitioner's name or address is unclear: the case is registered but not rated",
        )
    if case.repeat_of or case.status in ("linked_duplicate", "not_reaccepted"):
        return Refusal(
            "repeat_petition",
            "a repeat petition on a matter already raised is not rated; rate the first case",
        )
    return None


def reached_at(case: Any, moment: str) -> datetime | None:
    """When the moment came: the acceptance notice, or the written reply."""
    return case.accepted_at if moment == "acceptance" else case.replied_at


def window_closes(calendar: WorkCalendar, opened_at: datetime, days: int) -> date:
    """The last day to rate: ``days`` after the moment (China time, the start day not
    counted), moved to the next working day when it is a rest day."""
    return calendar.due(opened_at, days).date


def today_of(now: datetime) -> date:
    return now.astimezone(CST).date()


def changeable_until(rated_at: datetime, hours: float) -> datetime:
    return rated_at + timedelta(hours=hours)


def state_of(slot: Slot | None, today: date) -> str:
    """What a reader sees: ``not_reached`` (no slot yet), ``open``, ``rated`` or
    ``not_rated`` (also when the window closed and the scheduler has not stored it yet)."""
    if slot is None:
        return "not_reached"
    if slot.state == "open" and today > slot.window_closes:
        return "not_rated"
    return slot.state


def check(
    case: Any, moment: str, slot: Slot | None, now: datetime, change_hours: float
) -> Action | Refusal:
    """What a rating posted now does to the moment: ``rate`` it the first time, ``change``
    it, or a :class:`Refusal` saying why not."""
    refusal = ineligible(case)
    if refusal is not None:
        return refusal
    if slot is None:
        step = "the acceptance notice" if moment == "acceptance" else "the written reply"
        return Refusal(
            "moment_not_reached", f"the {moment} moment is not reached: {step} has not come yet"
        )
    state = state_of(slot, today_of(now))
    closes = slot.window_closes.isoformat()
    if state == "not_rated":
        return Refusal(
            "window_closed", f"the window to rate the {moment} closed on {closes}: not rated"
        )
    if state == "open":
        return "rate"
    if today_of(now) > slot.window_closes:
        return Refusal("window_closed", f"the window to rate the {moment} closed on {closes}")
    assert slot.rated_at is not None
    if now > changeable_until(slot.rated_at, change_hours):
        return Refusal(
            "change_period_over",
            f"the {moment} was rated on {slot.rated_at.isoformat()}; a rating may be changed "
            f"within {change_hours:g} hours only",
        )
    return "change"
