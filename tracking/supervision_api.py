"""Supervision (督办) and leader ownership (领导包案) over the API (PROCEDURE §7, Art. 38-40).

Operators list supervision (within their region) and open it by hand; the supervised unit
responds; the supervising bureau (or an operator) closes it once answered. An overdue clock
opens it without anyone (:mod:`tracking.scheduler`)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared import tracking_number as numbers
from shared.auth import Principal, require_role
from shared.contracts import SupervisionClosed, SupervisionResponded
from shared.errors import Conflict, Forbidden, Invalid, NotFound
from shared.logging import correlation_id
from shared.regions import scope_prefix, within
from tracking import overdue
from tracking import supervision as rules
from tracking.clocks import calendar_of, today_cst
from tracking.models import cases, supervisions
from tracking.store import Writer
from tracking.supervision_store import open_supervision

router = APIRouter(prefix="/api/v1", tags=["supervision"])

Operator = Annotated[Principal, Depends(require_role("operator"))]
Staff = Annotated[Principal, Depends(require_role("operator", "unit"))]
Unit = Annotated[Principal, Depends(require_role("unit"))]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class SupervisionCreate(_Body):
    reason: Literal[rules.MANUAL_REASONS] = Field(  # type: ignore[valid-type]
        description="passing_the_buck (踢皮球), false_report, not_carried_out (a reply not "
        "carried out), procedural_violation; an overdue clock opens supervision by itself"
    )
    note: str = Field(min_length=4, max_length=2000, description="what the unit must answer")
    unit_id: str | None = Field(
        None,
        max_length=100,
        description="the unit supervised: the case's handling unit (default) or a co-handler",
    )


class SupervisionResponse(_Body):
    text: str = Field(min_length=4, max_length=4000, description="what the unit did about it")


class SupervisionClose(_Body):
    note: str | None = Field(None, max_length=2000)


class LeaderAssign(_Body):
    name: str = Field(min_length=2, max_length=60, description="the leader who owns the case")
    title: str = Field(min_length=2, max_length=100, description="their post, e.g. 副区长")


def view(row: Any, today: date) -> dict[str, Any]:
    return {
        "id": row.id,
        "tracking_number": row.tracking_number,
        "unit_id": row.unit_id,
        "bureau_unit_id": row.bureau_unit_id,
        "reason": row.reason,
        "note": row.note,
        "level": row.level,
        "measure": rules.measure(row.level),
        "status": row.status,
        "opened_by": row.opened_by,
        "opened_at": row.opened_at.isoformat(),
        "response_due": row.response_due.isoformat(),
        "overdue": row.status == "open" and today > row.response_due,
        "response": row.response,
        "responded_at": row.responded_at.isoformat() if row.responded_at else None,
        "escalated_from": row.escalated_from,
        "escalated_to": row.escalated_to,
    }


def _select() -> Any:
    return select(supervisions, cases.c.tracking_number, cases.c.region_code).join(
        cases, cases.c.id == supervisions.c.case_id
    )


def _may_see(principal: Principal, row: Any) -> bool:
    if principal.role == "operator":
        return within(row.region_code, principal.region_code)
    return principal.unit_id in (row.unit_id, row.bureau_unit_id)


def _writer(request: Request, s: AsyncSession, case_id: str) -> Writer:
    settings = request.app.state.settings
    return Writer(
        s, settings.topic("tracking"), correlation_id.get() or case_id, None, calendar_of(settings)
    )


async def _case(s: AsyncSession, tracking_number: str, principal: Principal) -> Any:
    number = numbers.normalize(tracking_number)
    case = (await s.execute(select(cases).where(cases.c.tracking_number == number))).first()
    if case is None or not within(case.region_code, principal.region_code):
        raise NotFound("no case with this tracking number is visible to you")
    return case


async def _supervision(s: AsyncSession, sid: str, principal: Principal) -> Any:
    row = (await s.execute(_select().where(supervisions.c.id == sid))).first()
    if row is None or not _may_see(principal, row):
        raise NotFound("no supervision with this id is visible to you")
    return row


@router.get("/supervision", summary="Supervision records (operators; units see their own)")
async def list_supervision(
    request: Request,
    principal: Staff,
    status: Annotated[str | None, Query(description="open, responded, escalated, closed")] = None,
    unit_id: Annotated[str | None, Query(max_length=100)] = None,
    bureau_unit_id: Annotated[str | None, Query(max_length=100)] = None,
    tracking_number: Annotated[str | None, Query(max_length=30)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=36, description="id to continue after")] = None,
) -> dict[str, Any]:
    """Oldest first (ids are time-ordered). An operator token with a ``region_code`` claim
    sees the cases of its region; a unit token the supervision of it or by it."""
    if status is not None and status not in rules.STATUSES:
        raise Invalid("status", f"must be one of {', '.join(rules.STATUSES)}")
    q = _select()
    if principal.role == "operator":
        if principal.region_code:
            q = q.where(cases.c.region_code.startswith(scope_prefix(principal.region_code)))
    else:
        me = principal.unit_id
        q = q.where((supervisions.c.unit_id == me) | (supervisions.c.bureau_unit_id == me))
    if status:
        q = q.where(supervisions.c.status == status)
    if unit_id:
        q = q.where(supervisions.c.unit_id == unit_id)
    if bureau_unit_id:
        q = q.where(supervisions.c.bureau_unit_id == bureau_unit_id)
    if tracking_number:
        try:
            number = numbers.normalize(tracking_number)
        except ValueError as exc:
            raise Invalid("tracking_number", str(exc)) from None
        q = q.where(cases.c.tracking_number == number)
    if cursor:
        q = q.where(supervisions.c.id > cursor)
    q = q.order_by(supervisions.c.id).limit(limit + 1)
    async with request.app.state.db.sessions() as s:
        rows = (await s.execute(q)).all()
    today = today_cst(datetime.now(UTC))
    items = [view(r, today) for r in rows[:limit]]
    return {"items": items, "next_cursor": items[-1]["id"] if len(rows) > limit else None}


# Declared before /supervision/{supervision_id}, which would otherwise take "summary" for an id
@router.get("/supervision/summary", summary="Supervision and overdue cases, counted (operators)")
async def supervision_summary(
    request: Request,
    principal: Operator,
    region: Annotated[
        str | None, Query(pattern=r"^\d{6}(\d{3}){0,2}$", description="default: the token's")
    ] = None,
) -> dict[str, Any]:
    """Supervision by status and with its response overdue, and the cases whose unit let a
    deadline pass (:mod:`tracking.overdue`), within ``region`` (inside the token's region)."""
    scope = region or principal.region_code
    if region and not within(region, principal.region_code):
        raise Forbidden(f"your token is limited to region {principal.region_code}")
    prefix = scope_prefix(scope) if scope and scope != "000000" else None
    async with request.app.state.db.sessions() as s:
        counts = await overdue.summary(s, prefix, today_cst(datetime.now(UTC)))
    return {"region_code": scope if prefix else None, **counts}


@router.get("/supervision/{supervision_id}", summary="One supervision record")
async def get_supervision(request: Request, supervision_id: str, principal: Staff) -> dict:
    async with request.app.state.db.sessions() as s:
        row = await _supervision(s, supervision_id, principal)
    return view(row, today_cst(datetime.now(UTC)))


@router.post(
    "/cases/{tracking_number}/supervision",
    status_code=201,
    summary="Open supervision by hand (operators): passing the buck, a false report, ...",
)
async def open_by_hand(
    request: Request, tracking_number: str, body: SupervisionCreate, principal: Operator
) -> dict[str, Any]:
    settings = request.app.state.settings
    now = datetime.now(UTC)
    async with request.app.state.db.transaction() as s:
        case = await _case(s, tracking_number, principal)
        handlers = [case.unit_id, *(case.co_unit_ids or [])]
        unit_id = body.unit_id or case.unit_id
        if unit_id is None:
            raise Conflict(
                "the case has no handling unit to supervise yet",
                extensions={"case_status": case.status},
            )
        if unit_id not in handlers:
            raise Invalid("unit_id", "must be the case's handling unit or a co-handling unit")
        same = await s.execute(
            select(supervisions.c.id).where(
                supervisions.c.case_id == case.id,
                supervisions.c.unit_id == unit_id,
                supervisions.c.reason == body.reason,
                supervisions.c.status == "open",
            )
        )
        if (open_id := same.scalar()) is not None:
            raise Conflict(
                f"supervision {open_id} of {unit_id} for {body.reason} is open already",
                extensions={"supervision_id": open_id},
            )
        sid, _ = await open_supervision(
            _writer(request, s, case.id),
            case,
            unit_id=unit_id,
            bureau_unit_id=rules.bureau_of(unit_id),
            reason=body.reason,
            note=body.note,
            opened_by=f"operator:{principal.sub}",
            at=now,
            start=today_cst(now),
            days=settings.supervision_response_days,
        )
        row = await _supervision(s, sid, principal)
    return view(row, today_cst(now))


@router.post("/supervision/{supervision_id}/response", summary="The supervised unit responds")
async def respond(
    request: Request, supervision_id: str, body: SupervisionResponse, principal: Unit
) -> dict[str, Any]:
    now = datetime.now(UTC)
    async with request.app.state.db.transaction() as s:
        row = await _supervision(s, supervision_id, principal)
        if principal.unit_id != row.unit_id:
            raise NotFound("no supervision of your unit has this id")
        answered = await s.execute(
            update(supervisions)
            .where(supervisions.c.id == row.id, supervisions.c.status == "open")
            .values(status="responded", response=body.text, responded_at=now)
        )
        if answered.rowcount != 1:
            raise _not_open(row.status, row.escalated_to)
        w = _writer(request, s, row.case_id)
        await w.stop_clock(row.case_id, "supervision", now, supervision_id=row.id)
        status = await s.scalar(select(cases.c.status).where(cases.c.id == row.case_id))
        await w.note(
            row.case_id, now, status, row.unit_id, f"response to supervision: {body.text}", False
        )
        await w.emit(
            SupervisionResponded(
                supervision_id=row.id,
                case_id=row.case_id,
                tracking_number=row.tracking_number,
                unit_id=row.unit_id,
                responded_at=now,
            ),
            row.case_id,
        )
        row = await _supervision(s, supervision_id, principal)
    return view(row, today_cst(now))


@router.post(
    "/supervision/{supervision_id}/close",
    summary="Close answered supervision (the supervising bureau, or an operator)",
)
async def close(
    request: Request, supervision_id: str, principal: Staff, body: SupervisionClose | None = None
) -> dict[str, Any]:
    now = datetime.now(UTC)
    async with request.app.state.db.transaction() as s:
        row = await _supervision(s, supervision_id, principal)
        if principal.role == "unit" and principal.unit_id != row.bureau_unit_id:
            raise Forbidden("the supervising bureau closes supervision, not the unit supervised")
        closed = await s.execute(
            update(supervisions)
            .where(supervisions.c.id == row.id, supervisions.c.status == "responded")
            .values(status="closed")
        )
        if closed.rowcount != 1:
            raise Conflict(
                f"only answered supervision can be closed; this one is {row.status}",
                extensions={"supervision_status": row.status},
            )
        status = await s.scalar(select(cases.c.status).where(cases.c.id == row.case_id))
        who = principal.unit_id if principal.role == "unit" else f"operator:{principal.sub}"
        text = "supervision closed" + (f": {body.note}" if body and body.note else "")
        writer = _writer(request, s, row.case_id)
        await writer.note(row.case_id, now, status, who, text, False)
        number = await s.scalar(select(cases.c.tracking_number).where(cases.c.id == row.case_id))
        await writer.emit(
            SupervisionClosed(
                supervision_id=row.id,
                case_id=row.case_id,
                tracking_number=number,
                unit_id=row.unit_id,
                closed_by=who or "operator",
                closed_at=now,
            ),
            row.case_id,
        )
        row = await _supervision(s, supervision_id, principal)
    return view(row, today_cst(now))


def _not_open(status: str, escalated_to: str | None) -> Conflict:
    more = f"; answer {escalated_to} instead" if escalated_to else ""
    return Conflict(
        f"this supervision is {status}, not open: nothing to respond to{more}",
        extensions={"supervision_status": status, "escalated_to": escalated_to},
    )


@router.post("/cases/{tracking_number}/leader", summary="Name the leader who owns the case")
async def assign_leader(
    request: Request, tracking_number: str, body: LeaderAssign, principal: Operator
) -> dict[str, Any]:
    """领导包案: a leader takes personal charge of a case (backlog and repeat cases usually).
    Naming another leader replaces the first; both are on the internal timeline."""
    now = datetime.now(UTC)
    async with request.app.state.db.transaction() as s:
        case = await _case(s, tracking_number, principal)
        await s.execute(
            update(cases)
            .where(cases.c.id == case.id)
            .values(leader_name=body.name, leader_title=body.title, updated_at=now)
        )
        before = f" (was {case.leader_title} {case.leader_name})" if case.leader_name else ""
        await _writer(request, s, case.id).note(
            case.id,
            now,
            case.status,
            f"operator:{principal.sub}",
            f"leader ownership (领导包案): {body.title} {body.name}{before}",
            public=False,
        )
    return {
        "tracking_number": case.tracking_number,
        "leader": {"name": body.name, "title": body.title},
    }
