from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import func, select

from evaluation.models import case_reads
from shared.auth import Principal, require_role
from shared.errors import Forbidden
from shared.regions import scope_prefix, within

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])


@router.get("/overview", summary="Cases by status, optionally within a region")
async def overview(
    request: Request,
    principal: Annotated[Principal, Depends(require_role("operator"))],
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None,
) -> dict[str, Any]:
    if region_code and not within(region_code, principal.region_code):
        raise Forbidden("your token is limited to region " + str(principal.region_code))
    # a region's own cases and every region inside it: 110100 -> the codes starting 1101
    scope = region_code or principal.region_code
    region = scope_prefix(scope) if scope else None
    q = select(case_reads.c.status, func.count()).group_by(case_reads.c.status)
    if region:
        q = q.where(case_reads.c.region_code.startswith(region))
    async with request.app.state.db.sessions() as s:
        rows = (await s.execute(q)).all()
    by_status = {status: n for status, n in rows}
    return {"region_code": region, "total": sum(by_status.values()), "by_status": by_status}
