from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy import select

from routing.models import decisions
from shared.auth import Principal, require_role
from shared.errors import NotFound

router = APIRouter(prefix="/api/v1/routing", tags=["routing"])


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
    return dict(row._mapping)
