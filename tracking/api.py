from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, update

from shared import tracking_number as numbers
from shared.auth import MaybePrincipal, Principal, require_role
from shared.contracts import CaseObjected
from shared.errors import Conflict, Forbidden, NotFound
from shared.logging import correlation_id
from shared.regions import within
from shared.vocabulary import CST
from tracking import machine
from tracking.clocks import clock_state, today_cst
from tracking.models import cases, timeline
from tracking.store import Writer

router = APIRouter(prefix="/api/v1", tags=["cases"])


def may_see(principal: Principal, case: Any) -> bool:
    if principal.role in ("operator", "service"):
        return within(case.region_code, principal.region_code)
    if principal.role == "petitioner":
        return case.owner_ref is not None and case.owner_ref == principal.sub
    if principal.role == "unit":
        return case.unit_id is not None and case.unit_id == principal.unit_id
    return False


def shows_reporter(principal: Principal | None, case: Any) -> bool:
    """An accusation's reporter is hidden from everyone but the reporter and the discipline
    organ handling it (Art. 30, 46); other petitions show the masked name to their readers."""
    if case.anonymous:
        return False
    if case.kind != "accusation" or principal is None or principal.role == "petitioner":
        return True
    return principal.role == "unit" and (principal.unit_id or "").endswith(":discipline")


async def _view(
    request: Request, case: Any, *, internal: bool, principal: Principal | None = None
) -> dict[str, Any]:
    async with request.app.state.db.sessions() as s:
        q = select(timeline).where(timeline.c.case_id == case.id).order_by(timeline.c.id)
        if not internal:
            q = q.where(timeline.c.public.is_(True))
        entries = (await s.execute(q)).all()
    today = datetime.now(UTC).astimezone(CST).date()
    deadlines = {}
    if case.acceptance_due and case.status == "routed":
        deadlines["acceptance"] = {
            "due": case.acceptance_due.isoformat(),
            "state": clock_state(case.acceptance_due, case.routed_at, today),
            "basis": "15 days from receipt by the unit (Art. 23); a last day on a rest day "
            "moves to the next working day",
        }
    if internal and case.objection_due and case.status == "routed":
        deadlines["objection"] = {
            "due": case.objection_due.isoformat(),
            "state": clock_state(case.objection_due, case.routed_at, today),
            "basis": "5 working days from receipt by the unit (Art. 23)",
        }
    return {
        "case_id": case.id,
        "tracking_number": case.tracking_number,
        "tracking_number_display": numbers.display(case.tracking_number),
        "status": case.status,
        "kind": case.kind,
        "channel": case.channel,
        "title": case.title,
        "category": case.category,
        "region_code": case.region_code,
        "petitioner_name": case.petitioner_masked_name if shows_reporter(principal, case) else None,
        "unit": {"id": case.unit_id} if case.unit_id else None,
        "received_at": case.received_at.isoformat(),
        "deadlines": deadlines,
        "timeline": [
            {
                "at": e.at.isoformat(),
                "status": e.status,
                "note": e.note,
                **({"actor": e.actor, "public": e.public} if internal else {}),
            }
            for e in entries
        ],
        "legal_channel": {"code": case.legal_channel, "name": case.legal_channel_name}
        if case.legal_channel
        else None,
        "linked_to": case.repeat_of_tracking_number,
        **(
            {
                "collective_id": case.collective_id,
                "category_source": case.category_source,
                "transfers": case.transfers,
                "objection_allowed": case.objection_allowed and case.status == "routed",
                "allowed_actions": machine.allowed(case.status, principal.role)
                if principal
                else [],
            }
            if internal
            else {}
        ),
        "reply": None,
        "rating": None,
    }


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
        return await _view(request, case, internal=False)
    if case is None or not may_see(principal, case):
        raise NotFound("no case with this tracking number is visible to you")
    return await _view(
        request, case, internal=principal.role in ("operator", "unit"), principal=principal
    )


class Objection(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(
        min_length=4,
        max_length=500,
        description="why the matter is outside your unit's remit (shown to the router and "
        "the units concerned, not to the petitioner)",
    )


@router.post(
    "/cases/{tracking_number}/object",
    status_code=202,
    summary="Object to jurisdiction (the handling unit, within 5 working days; Art. 23)",
)
async def object_to_jurisdiction(
    request: Request,
    tracking_number: str,
    body: Objection,
    principal: Annotated[Principal, Depends(require_role("unit"))],
) -> dict[str, Any]:
    """The case goes back to routing, which moves it to the competent unit (never one that has
    objected already) or, after the transfer cap, to the petition bureau. Answers 202 with the
    case, now ``received`` again until routing has moved it."""
    number = numbers.normalize(tracking_number)
    state = request.app.state
    now = datetime.now(UTC)
    async with state.db.transaction() as s:
        case = (await s.execute(select(cases).where(cases.c.tracking_number == number))).first()
        if case is None or not may_see(principal, case):
            raise NotFound("no case with this tracking number is visible to you")
        action = machine.check("object", case.status, principal.role)
        if not case.objection_allowed:
            raise Conflict(
                "the petition bureau named your unit after the case had been moved "
                f"{case.transfers} times: that choice is final (anti 踢皮球)",
                extensions={"case_status": case.status, "allowed_actions": []},
            )
        if case.objection_due is None or today_cst(now) > case.objection_due:
            due = case.objection_due.isoformat() if case.objection_due else "-"
            raise Conflict(
                f"the objection window closed on {due} (5 working days from receipt, "
                "Art. 23); accept the case, or ask the petition bureau to move it",
                extensions={"case_status": case.status, "objection_due": due},
            )
        w = Writer(s, state.settings.topic("tracking"), correlation_id.get() or case.id, None)
        moved = await s.execute(
            update(cases)
            .where(
                cases.c.id == case.id,
                cases.c.status == "routed",
                cases.c.routing_revision == case.routing_revision,
            )
            .values(objection_due=None)
        )
        if moved.rowcount != 1:
            raise Conflict("the case changed meanwhile; read it again")
        await w.transition(
            case.id,
            case.tracking_number,
            case.status,
            action.target,
            now,
            principal.unit_id or "unit",
            "returned by the unit as outside its remit; it is being routed again",
        )
        await w.note(
            case.id, now, action.target, principal.unit_id or "unit", body.reason, public=False
        )
        await w.emit(
            CaseObjected(
                case_id=case.id,
                tracking_number=case.tracking_number,
                unit_id=case.unit_id,
                revision=case.routing_revision,
                reason=body.reason,
                objected_at=now,
            ),
            case.id,
        )
    async with state.db.sessions() as s:
        fresh = (await s.execute(select(cases).where(cases.c.id == case.id))).first()
    return await _view(request, fresh, internal=True, principal=principal)


@router.get("/me/cases", summary="A petitioner's cases")
async def my_cases(
    request: Request,
    principal: Annotated[Principal, Depends(require_role("petitioner"))],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="tracking number to continue after")] = None,
) -> dict[str, Any]:
    q = select(cases).where(cases.c.owner_ref == principal.sub)
    return await _page(request, q, limit, cursor)


@router.get("/units/{unit_id}/cases", summary="A unit's inbox")
async def unit_cases(
    request: Request,
    unit_id: str,
    principal: Annotated[Principal, Depends(require_role("unit", "operator"))],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    if principal.role == "unit" and principal.unit_id != unit_id:
        raise Forbidden("a unit sees only its own cases")
    q = select(cases).where(cases.c.unit_id == unit_id)
    return await _page(request, q, limit, cursor)


async def _page(request: Request, q: Any, limit: int, cursor: str | None) -> dict[str, Any]:
    if cursor:
        q = q.where(cases.c.tracking_number > numbers.normalize(cursor))
    q = q.order_by(cases.c.tracking_number).limit(limit + 1)
    async with request.app.state.db.sessions() as s:
        rows = (await s.execute(q)).all()
    items = [
        {
            "tracking_number": r.tracking_number,
            "status": r.status,
            "title": r.title,
            "unit_id": r.unit_id,
            "received_at": r.received_at.isoformat(),
        }
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    return {"items": items, "next_cursor": items[-1]["tracking_number"] if more else None}
