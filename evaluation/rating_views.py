"""What readers see of ratings and call-backs: the petitioner their own, the handling unit and
operators everything including the unit's notes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from evaluation import ratings as rules
from shared.calendar import WorkCalendar
from shared.settings import CommonSettings


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def moment_view(
    case: Any,
    moment: str,
    row: Any | None,
    *,
    now: datetime,
    settings: CommonSettings,
    calendar: WorkCalendar,
) -> dict[str, Any]:
    refusal = rules.ineligible(case)
    if refusal is not None:
        return {"state": "ineligible", "reason": refusal.reason, "detail": refusal.detail}
    opened_at = row.opened_at if row is not None else rules.reached_at(case, moment)
    if opened_at is None:
        return {"state": "not_reached", "window": None}
    closes = (
        row.window_closes
        if row is not None
        else rules.window_closes(calendar, opened_at, settings.rating_window_days)
    )
    slot = rules.Slot(row.state if row is not None else "open", closes)
    state = rules.state_of(slot, rules.today_of(now))
    out: dict[str, Any] = {
        "state": state,
        "window": {"opened_at": opened_at.isoformat(), "closes_on": closes.isoformat()},
        "unit_id": row.unit_id if row is not None else case.unit_id,
    }
    if state != "rated":
        return out
    until = rules.changeable_until(row.rated_at, settings.rating_change_hours)
    open_to_change = now <= until and rules.today_of(now) <= closes
    out.update(
        level=row.level,
        comment=row.comment,
        rated_by=row.rated_by,
        rated_at=_iso(row.rated_at),
        changed_at=_iso(row.changed_at),
        changes=row.changes,
        changeable_until=until.isoformat() if open_to_change else None,
    )
    return out


def callback_view(
    cb: Any, *, internal: bool, today: date, rating: Any | None = None
) -> dict[str, Any]:
    """A call-back task; ``internal`` (the unit, operators) adds who did what."""
    out: dict[str, Any] = {
        "id": cb.id,
        "tracking_number": cb.tracking_number,
        "moment": cb.moment,
        "status": cb.status,
        "opened_at": _iso(cb.opened_at),
        "due": _iso(cb.due),
        "overdue": cb.status == "overdue" or (cb.status == "open" and today > cb.due),
        "done_at": _iso(cb.done_at),
    }
    if internal:
        out.update(
            case_id=cb.case_id,
            unit_id=cb.unit_id,
            region_code=cb.region_code,
            on_time=cb.on_time,
            done_by=cb.done_by,
            note=cb.note,
            cancelled_at=_iso(cb.cancelled_at),
        )
        if rating is not None:
            out["rating"] = {"level": rating.level, "comment": rating.comment}
    return out


def rating_view(
    case: Any,
    rows: list[Any],
    cbs: list[Any],
    *,
    internal: bool,
    now: datetime,
    settings: CommonSettings,
    calendar: WorkCalendar,
) -> dict[str, Any]:
    by_moment = {r.moment: r for r in rows}
    refusal = rules.ineligible(case)
    today = rules.today_of(now)
    return {
        "case_id": case.case_id,
        "tracking_number": case.tracking_number,
        "scale": list(rules.SCALE),
        "eligible": refusal is None,
        "ineligible_reason": refusal.reason if refusal else None,
        "moments": {
            m: moment_view(case, m, by_moment.get(m), now=now, settings=settings, calendar=calendar)
            for m in rules.MOMENTS
        },
        "callbacks": [callback_view(cb, internal=internal, today=today) for cb in cbs],
    }
