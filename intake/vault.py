"""Clear-text identity, for those who must contact the petitioner, and only with a reason
that is written to the access log before anything is shown (PROCEDURE §9, Art. 30, 46)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select

from intake.models import case_states, petitions, pii_access_log
from shared import tracking_number as numbers
from shared.auth import CurrentPrincipal, Principal, require_role
from shared.errors import Forbidden, NotFound
from shared.logging import request_id
from shared.regions import within

router = APIRouter(prefix="/api/v1/petitions", tags=["identity"])


def may_read_identity(principal: Principal, row: Any, handling_unit: str | None) -> bool:
    """Own data; an operator (never an accusation's reporter: only the discipline organ
    handling it sees that); the handling unit (for an accusation only a discipline organ)."""
    if principal.role == "petitioner":
        return row.owner_ref is not None and row.owner_ref == principal.sub
    if row.kind == "accusation":
        return (
            principal.role == "unit"
            and principal.unit_id == handling_unit
            and (handling_unit or "").endswith(":discipline")
        )
    if principal.role == "operator":
        return within(row.region_code, principal.region_code)
    return (
        principal.role == "unit"
        and handling_unit is not None
        and principal.unit_id == handling_unit
    )


async def _petition(request: Request, tracking_number: str):  # type: ignore[no-untyped-def]
    number = numbers.normalize(tracking_number)
    async with request.app.state.db.sessions() as s:
        row = (
            await s.execute(select(petitions).where(petitions.c.tracking_number == number))
        ).first()
        unit = (
            None
            if row is None
            else (
                await s.execute(
                    select(case_states.c.unit_id).where(case_states.c.petition_id == row.id)
                )
            ).scalar()
        )
    return row, unit


@router.get(
    "/{tracking_number}/identity",
    summary="The petitioner's identity in clear (audited: who, when, why)",
)
async def read_identity(
    request: Request,
    tracking_number: str,
    principal: CurrentPrincipal,
    reason: Annotated[
        str,
        Query(min_length=4, max_length=300, description="why you need it; kept in the access log"),
    ],
) -> dict[str, Any]:
    row, unit = await _petition(request, tracking_number)
    if row is None or not may_read_identity(principal, row, unit):
        raise NotFound("no petition with this tracking number whose identity you may read")
    if row.anonymous:
        raise Forbidden("the petition is anonymous: there is no identity to show")
    cipher = request.app.state.cipher
    fields = {"name": "name", "id_number": "id", "phone": "phone", "address": "addr"}
    clear = {
        f: cipher.decrypt(getattr(row, f"{f}_enc"), context=f"{row.id}:{ctx}")
        for f, ctx in fields.items()
    }
    reps = cipher.decrypt(row.representatives_enc, context=f"{row.id}:reps")
    shown = [f for f, v in clear.items() if v] + (["representatives"] if reps else [])
    async with request.app.state.db.transaction() as s:  # logged before it is shown
        await s.execute(
            pii_access_log.insert().values(
                petition_id=row.id,
                actor=principal.sub,
                role=principal.role,
                unit_id=principal.unit_id,
                reason=reason,
                fields=shown,
                request_id=request_id.get(),
                at=datetime.now(UTC),
            )
        )
    return {
        "tracking_number": row.tracking_number,
        **clear,
        "representatives": json.loads(reps) if reps else [],
    }


@router.get(
    "/{tracking_number}/identity/access-log",
    summary="Who read the petitioner's identity, when and why (operators)",
)
async def identity_access_log(
    request: Request,
    tracking_number: str,
    principal: Annotated[Principal, Depends(require_role("operator"))],
) -> dict[str, Any]:
    row, _unit = await _petition(request, tracking_number)
    if row is None or not within(row.region_code, principal.region_code):
        raise NotFound("no petition with this tracking number is visible to you")
    async with request.app.state.db.sessions() as s:
        entries = (
            await s.execute(
                select(pii_access_log)
                .where(pii_access_log.c.petition_id == row.id)
                .order_by(pii_access_log.c.id)
            )
        ).all()
    return {
        "tracking_number": row.tracking_number,
        "entries": [
            {
                "at": e.at.isoformat(),
                "actor": e.actor,
                "role": e.role,
                "unit_id": e.unit_id,
                "reason": e.reason,
                "fields": e.fields,
                "request_id": e.request_id,
            }
            for e in entries
        ],
    }
