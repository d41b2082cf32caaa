from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from shared import tracking_number as numbers
from shared.auth import MaybePrincipal, Principal, require_role
from shared.errors import Forbidden, NotFound
from shared.vocabulary import CST
from tracking.clocks import clock_state
from tracking.models import cases, timeline

router = APIRouter(prefix="/api/v1", tags=["cases"])


def may_see(principal: Principal, case: Any) -> bool:
    if principal.role in ("operator", "service"):
        return principal.region_code is None or case.region_code.startswith(
            principal.region_code.rstrip("0") or principal.region_code
        )
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
            "basis": "15 days from receipt by the unit (Art. 23), calendar days",
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
            {"collective_id": case.collective_id, "category_source": case.category_source}
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
