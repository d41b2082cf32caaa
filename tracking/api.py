"""Reading cases: the case view, a petitioner's cases, a unit's inbox; and the deadline helper
for agency systems (``GET /api/v1/calendar/due``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import and_, exists, or_, select

from shared import tracking_number as numbers
from shared.auth import MaybePrincipal, Principal, require_role
from shared.calendar import IsoDay
from shared.errors import Forbidden, Invalid, NotFound
from shared.regions import scope_prefix, within
from shared.vocabulary import STATUSES
from tracking.clocks import calendar_of
from tracking.models import cases, clocks
from tracking.store import cst_date
from tracking.views import case_view, may_see

router = APIRouter(prefix="/api/v1", tags=["cases"])

ClockState = Literal["on_time", "due_soon", "overdue"]


@router.get("/cases/{tracking_number}", summary="The case view")
async def get_case(
    request: Request,
    tracking_number: str,
    principal: MaybePrincipal,
    query_code: Annotated[str | None, Query(max_length=20)] = None,
) -> dict[str, Any]:
    number = numbers.normalize(tracking_number)
    state = request.app.state
    state.gate.admit(request, number, principal, query_code)
    async with state.db.sessions() as s:
        case = (await s.execute(select(cases).where(cases.c.tracking_number == number))).first()
    if principal is None:
        await state.gate.verify(query_code, case.query_code_hash if case else None)
        return await case_view(request, case, internal=False)
    if case is None or not may_see(principal, case):
        raise NotFound("no case with this tracking number is visible to you")
    return await case_view(
        request, case, internal=principal.role in ("operator", "unit"), principal=principal
    )


Status = Annotated[
    list[str] | None, Query(description="one or more statuses (repeat the parameter)")
]
Clock = Annotated[
    ClockState | None,
    Query(description="cases with a running deadline in this state (judged today)"),
]
Region = Annotated[
    str | None, Query(pattern=r"^\d{2,12}$", description="region code or prefix where it arose")
]
Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(description="the next_cursor of the previous page")]


@router.get("/me/cases", summary="A petitioner's cases (a grid worker's: the ones they reported)")
async def my_cases(
    request: Request,
    principal: Annotated[Principal, Depends(require_role("petitioner", "grid_worker"))],
    status: Status = None,
    clock_state: Clock = None,
    region: Region = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    q = select(cases).where(cases.c.owner_ref == principal.sub)
    if principal.role == "grid_worker":
        q = q.where(cases.c.proactive.is_(True))
    return await _page(request, q, limit, cursor, status, clock_state, region)


@router.get("/units/{unit_id}/cases", summary="A unit's inbox")
async def unit_cases(
    request: Request,
    unit_id: str,
    principal: Annotated[Principal, Depends(require_role("unit", "operator"))],
    status: Status = None,
    clock_state: Clock = None,
    region: Region = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    if principal.role == "unit" and principal.unit_id != unit_id:
        raise Forbidden("a unit sees only its own cases")
    if principal.role == "operator" and not within(unit_id.split(":")[0], principal.region_code):
        raise Forbidden(f"your token is limited to region {principal.region_code}")
    q = select(cases).where(cases.c.unit_id == unit_id)
    if principal.role == "operator" and principal.region_code:
        q = q.where(cases.c.region_code.startswith(scope_prefix(principal.region_code)))
    return await _page(request, q, limit, cursor, status, clock_state, region)


async def _page(
    request: Request,
    q: Any,
    limit: int,
    cursor: str | None,
    status: list[str] | None = None,
    clock_state: str | None = None,
    region: str | None = None,
) -> dict[str, Any]:
    if status:
        unknown = sorted(set(status) - set(STATUSES))
        if unknown:
            raise Invalid("status", f"unknown: {', '.join(unknown)}", allowed=list(STATUSES))
        q = q.where(cases.c.status.in_(status))
    if region:
        q = q.where(cases.c.region_code.startswith(scope_prefix(region)))
    if clock_state:
        today = cst_date(datetime.now(UTC))
        running = (clocks.c.case_id == cases.c.id) & clocks.c.stopped_at.is_(None)
        if clock_state == "overdue":
            cond = running & (clocks.c.due < today)
        elif clock_state == "due_soon":
            cond = running & (clocks.c.due >= today) & (clocks.c.due_soon_on <= today)
        else:
            cond = running & (clocks.c.due_soon_on > today)
        q = q.where(exists().where(cond))
    if cursor:  # "<priority>:<tracking number>", or a bare number for priority 0
        level, _, after = cursor.rpartition(":")
        try:
            p = int(level) if level else 0
        except ValueError:
            raise Invalid("cursor", "not a cursor of this list") from None
        n = numbers.normalize(after)
        q = q.where(
            or_(
                cases.c.priority < p,
                and_(cases.c.priority == p, cases.c.tracking_number > n),
            )
        )
    # themed channels' petitions jump the queue: higher priority first
    q = q.order_by(cases.c.priority.desc(), cases.c.tracking_number).limit(limit + 1)
    async with request.app.state.db.sessions() as s:
        rows = (await s.execute(q)).all()
    items = [
        {
            "tracking_number": r.tracking_number,
            "status": r.status,
            "title": r.title,
            "unit_id": r.unit_id,
            "region_code": r.region_code,
            "received_at": r.received_at.isoformat(),
            "reply_due": r.reply_due.isoformat() if r.reply_due else None,
            "theme": r.theme,
            "priority": r.priority or 0,
            "proactive": bool(r.proactive),
        }
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    last = rows[limit - 1] if more else None
    cursor_out = None
    if last is not None:
        cursor_out = (
            f"{last.priority}:{last.tracking_number}" if last.priority else last.tracking_number
        )
    return {"items": items, "next_cursor": cursor_out}


@router.get(
    "/calendar/due",
    tags=["calendar"],
    summary="The last day of a period, counted as the Regulation counts (for agency systems)",
)
async def calendar_due(
    request: Request,
    start: Annotated[IsoDay, Query(description="the day the period starts from (not counted)")],
    days: Annotated[int, Query(ge=0, le=3660)],
    unit: Annotated[Literal["calendar", "working"], Query()] = "calendar",
) -> dict[str, Any]:
    """Civil Code Art. 201, 203: the start day is excluded; N calendar days end on start + N,
    moved to the next working day if that is a rest day; N working days end on the N-th
    working day after the start. Official holidays and make-up days (调休) included;
    ``provisional`` when a day counted lies in a year without official data."""
    result = calendar_of(request.app.state.settings).due(start, days, unit)
    return {
        "start": start.isoformat(),
        "days": days,
        "unit": unit,
        "due": result.date.isoformat(),
        "provisional": result.provisional,
        "rule": "start day excluded; "
        + (
            "the N-th working day after it"
            if unit == "working"
            else "start + N days, moved to the next working day if it is a rest day"
        ),
    }
