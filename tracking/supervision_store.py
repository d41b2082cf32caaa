"""How tracking writes supervision (督办): the record, its clock, the internal timeline entry
and the event commit together (the caller's transaction, :class:`tracking.store.Writer`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select, update

from shared.contracts import SupervisionEscalated, SupervisionOpened
from shared.regions import RegionDirectory
from tracking import supervision as rules
from tracking.models import supervisions
from tracking.store import Writer


async def open_supervision(
    w: Writer,
    case: Any,
    *,
    unit_id: str,
    bureau_unit_id: str,
    reason: str,
    note: str,
    opened_by: str,
    at: datetime,
    start: date,
    days: int,
    level: int = 0,
    escalated_from: str | None = None,
    supervision_id: str | None = None,
) -> tuple[str, date]:
    """Opens supervision of ``unit_id`` by ``bureau_unit_id`` on a case, with its response
    clock of ``days`` from ``start``; returns its id and the day the response is due."""
    sid = supervision_id or rules.new_id()
    due = await w.start_clock(
        case.id,
        "supervision",
        start,
        days,
        basis=f"supervision response: {days} days (Art. 38-40)",
        unit_id=unit_id,
        supervision_id=sid,
    )
    await w.session.execute(
        supervisions.insert().values(
            id=sid,
            case_id=case.id,
            unit_id=unit_id,
            bureau_unit_id=bureau_unit_id,
            reason=reason,
            note=note,
            level=level,
            status="open",
            opened_by=opened_by,
            opened_at=at,
            response_due=due,
            escalated_from=escalated_from,
        )
    )
    step = rules.measure(level).replace("_", " ")
    await w.note(
        case.id,
        at,
        case.status,
        opened_by,
        f"{step} ({reason}) of {unit_id} by {bureau_unit_id}, response due {due.isoformat()}: "
        f"{note}",
        public=False,
    )
    await w.emit(
        SupervisionOpened(
            supervision_id=sid,
            case_id=case.id,
            tracking_number=case.tracking_number,
            unit_id=unit_id,
            bureau_unit_id=bureau_unit_id,
            reason=reason,
            level=level,
            opened_by=opened_by,
            opened_at=at,
            response_due=due,
            escalated_from=escalated_from,
        ),
        case.id,
    )
    return sid, due


async def escalate(
    w: Writer,
    case: Any,
    supervision_id: str,
    *,
    at: datetime,
    today: date,
    days: int,
    regions: RegionDirectory | None = None,
) -> str | None:
    """Unanswered supervision goes to the petition bureau one level up, one measure higher;
    the national bureau keeps it and raises the measure. None if it is no longer open."""
    s = w.session
    old = (await s.execute(select(supervisions).where(supervisions.c.id == supervision_id))).first()
    if old is None or old.status != "open":
        return None
    new_id = rules.new_id()
    claimed = await s.execute(
        update(supervisions)
        .where(supervisions.c.id == old.id, supervisions.c.status == "open")
        .values(status="escalated", escalated_to=new_id)
    )
    if claimed.rowcount != 1:
        return None  # answered meanwhile
    await w.stop_clock(case.id, "supervision", today, supervision_id=old.id)
    bureau = rules.bureau_above(old.bureau_unit_id, regions)
    level = old.level + 1
    await w.emit(
        SupervisionEscalated(
            supervision_id=old.id,
            case_id=case.id,
            tracking_number=case.tracking_number,
            unit_id=old.unit_id,
            escalated_to=new_id,
            level=level,
            escalated_at=at,
        ),
        case.id,
    )
    await open_supervision(
        w,
        case,
        unit_id=old.unit_id,
        bureau_unit_id=bureau,
        reason=old.reason,
        note=f"no response to {old.bureau_unit_id} by {old.response_due.isoformat()}: "
        f"escalated ({rules.measure(level).replace('_', ' ')})",
        opened_by="system",
        at=at,
        start=today,
        days=days,
        level=level,
        escalated_from=old.id,
        supervision_id=new_id,
    )
    return new_id
