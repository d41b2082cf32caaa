from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from intake.idempotency import replay_idempotent
from intake.models import petitions
from intake.rules import check_submitter
from intake.schemas import PetitionCreate, PetitionCreated, PetitionPublic
from intake.service import register
from shared import tracking_number as numbers
from shared.auth import CurrentPrincipal, MaybePrincipal
from shared.errors import Invalid, NotFound
from shared.regions import within

router = APIRouter(prefix="/api/v1", tags=["petitions"])


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
    state.gate.admit(request, number, principal, query_code)
    row = None
    if numbers.is_valid(number):
        async with state.db.sessions() as s:
            row = (
                await s.execute(select(petitions).where(petitions.c.tracking_number == number))
            ).first()
    if principal is None:
        await state.gate.verify(query_code, row.query_code_hash if row else None)
    elif row is None or not (
        (principal.role == "operator" and within(row.region_code, principal.region_code))
        or (principal.role == "petitioner" and row.owner_ref == principal.sub)
        or (
            principal.role == "grid_worker"
            and row.proactive
            and row.registered_by == f"grid_worker:{principal.sub}"
        )
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
