from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from routing.models import decisions
from shared import tracking_number as numbers
from shared.auth import CurrentPrincipal, Principal, require_role
from shared.errors import NotFound

router = APIRouter(prefix="/api/v1/routing", tags=["routing"])
cases_router = APIRouter(prefix="/api/v1", tags=["routing"])


@router.get("/decisions/{case_id}", summary="Why a case went where it went (operators)")
async def get_decision(
    request: Request,
    case_id: str,
    _principal: Annotated[Principal, Depends(require_role("operator", "service"))],
) -> dict[str, object]:
    async with request.app.state.db.sessions() as s:
        row = (await s.execute(select(decisions).where(decisions.c.case_id == case_id))).first()
    if row is None:
        raise NotFound("no routing decision for this case yet")
    return public(row)


@cases_router.get(
    "/cases/{tracking_number}/routing",
    summary="The routing decision of a case and its rule path (operators, and the units it names)",
)
async def case_routing(
    request: Request, tracking_number: str, principal: CurrentPrincipal
) -> dict[str, object]:
    number = numbers.normalize(tracking_number)
    async with request.app.state.db.sessions() as s:
        row = (
            await s.execute(select(decisions).where(decisions.c.tracking_number == number))
        ).first()
    concerned = (
        set()
        if row is None
        else {row.unit_id, *(row.co_unit_ids or []), *(row.notify_unit_ids or [])}
    )
    allowed = principal.role in ("operator", "service") or (
        principal.role == "unit" and principal.unit_id in concerned
    )
    if row is None or not allowed:
        raise NotFound("no routing decision for this case is visible to you")
    return public(row)


def public(row: Any) -> dict[str, object]:
    """A decision as operators and the units it names read it."""
    return {
        "case_id": row.case_id,
        "tracking_number": row.tracking_number,
        "outcome": row.outcome,
        "lead_unit_id": row.unit_id or None,
        "co_unit_ids": row.co_unit_ids or [],
        "function": row.function,
        "level": row.level,
        "region_code": row.region_code,
        "major": row.major,
        "notify_unit_ids": row.notify_unit_ids or [],
        "excluded": [{"unit_id": u, "why": why} for u, why in (row.excluded or [])],
        "rule": row.rule,
        "path": row.path or [],
        "decided_at": row.decided_at.isoformat(),
    }
