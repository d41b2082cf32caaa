from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from intake import numbers
from intake.models import petitions
from intake.rules import check_submitter
from intake.schemas import PetitionCreate, PetitionCreated, PetitionPublic
from intake.service import register, replay_idempotent
from shared import querycode
from shared.auth import CurrentPrincipal, MaybePrincipal
from shared.errors import Invalid, NotFound, TooManyRequests, Unauthorized

router = APIRouter(prefix="/api/v1", tags=["petitions"])

_NO_MATCH = "no case matches this tracking number and query code"


@router.post(
    "/petitions", status_code=201, response_model=PetitionCreated, summary="Submit a petition"
)
async def submit_petition(
    request: Request,
    body: PetitionCreate,
    principal: CurrentPrincipal,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> JSONResponse:
    check_submitter(body, principal)
    state = request.app.state
    if idempotency_key:
        replay = await replay_idempotent(state.db, state.cipher, principal, idempotency_key, body)
        if replay is not None:
            return JSONResponse(
                replay.model_dump(), status_code=201, headers={"Idempotent-Replayed": "true"}
            )
    created = await register(
        state.db, state.settings, state.cipher, principal, body, idempotency_key
    )
    return JSONResponse(
        created.model_dump(),
        status_code=201,
        headers={"Location": f"/api/v1/cases/{created.tracking_number}"},
    )


@router.get(
    "/petitions/{tracking_number}",
    response_model=PetitionPublic,
    summary="A submitted petition, as intake knows it (status received)",
)
async def get_petition(
    request: Request,
    tracking_number: str,
    principal: MaybePrincipal,
    query_code: Annotated[str | None, Query(max_length=20)] = None,
) -> PetitionPublic:
    number = numbers.normalize(tracking_number)
    state = request.app.state
    if principal is None and query_code is None:
        raise Unauthorized("give a bearer token or the query_code")
    if principal is None:
        client = request.client.host if request.client else "?"
        for key in (f"client:{client}", f"case:{number}"):
            wait = state.limiter.hit(key)
            if wait:
                raise TooManyRequests("too many query-code attempts; wait and retry", wait)
    row = None
    if numbers.is_valid(number):
        async with state.db.sessions() as s:
            row = (
                await s.execute(select(petitions).where(petitions.c.tracking_number == number))
            ).first()
    if principal is None:
        stored = row.query_code_hash if row else querycode.hash_code("DUMMYQC2")
        ok = await asyncio.to_thread(querycode.verify, query_code or "", stored)
        if row is None or not ok:
            raise NotFound(_NO_MATCH)
    elif row is None or not (
        principal.role == "operator"
        or (principal.role == "petitioner" and row.owner_ref == principal.sub)
    ):
        if not numbers.is_valid(number):
            raise Invalid(
                "tracking_number",
                "must be 18 characters with a valid check character, e.g. 110107-261128-00123-X",
            )
        raise NotFound("no case with this tracking number is visible to you")
    return PetitionPublic(
        petition_id=row.id,
        tracking_number=row.tracking_number,
        tracking_number_display=numbers.display(row.tracking_number),
        kind=row.kind,
        channel=row.channel,
        title=row.title,
        category=row.category,
        region_code=row.region_code,
        petitioner_name=row.name_masked,
        received_at=row.received_at,
        timeline=[
            {"at": row.received_at.isoformat(), "status": "received", "note": "petition received"}
        ],
    )
