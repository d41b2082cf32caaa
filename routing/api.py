from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from routing.jurisdiction import KINDS, decide
from routing.models import decisions, moves
from routing.moves import explain, move, named_by_hand, rule_of
from shared import tracking_number as numbers
from shared.auth import CurrentPrincipal, Principal, require_role
from shared.errors import Conflict, Invalid, NotFound
from shared.logging import correlation_id
from shared.regions import within
from shared.vocabulary import CATEGORIES, CST, MOVABLE_STATUSES

router = APIRouter(prefix="/api/v1/routing", tags=["routing"])
cases_router = APIRouter(prefix="/api/v1", tags=["routing"])


@router.get("/decisions/{case_id}", summary="Why a case went where it went (operators)")
async def get_decision(
    request: Request,
    case_id: str,
    principal: Annotated[Principal, Depends(require_role("operator", "service"))],
) -> dict[str, object]:
    async with request.app.state.db.sessions() as s:
        row = (await s.execute(select(decisions).where(decisions.c.case_id == case_id))).first()
    if row is None or not within(_region(row), principal.region_code):
        raise NotFound("no routing decision for this case yet")
    return await with_history(request, row)


@cases_router.get(
    "/cases/{tracking_number}/routing",
    summary="The routing decision of a case and its rule path (operators, and the units it names)",
)
async def case_routing(
    request: Request, tracking_number: str, principal: CurrentPrincipal
) -> dict[str, object]:
    row = await _decision(request, tracking_number)
    concerned = (
        set()
        if row is None
        else {row.unit_id, *(row.co_unit_ids or []), *(row.notify_unit_ids or [])}
    )
    allowed = row is not None and (
        (principal.role == "service")
        or (principal.role == "operator" and within(_region(row), principal.region_code))
        or (principal.role == "unit" and principal.unit_id in concerned)
    )
    if row is None or not allowed:
        raise NotFound("no routing decision for this case is visible to you")
    return await with_history(request, row)


class Reroute(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    unit_id: str = Field(min_length=3, max_length=100, description="the lead unit named")
    co_unit_ids: list[str] = Field(default_factory=list, max_length=10)
    reason: str = Field(min_length=4, max_length=500, description="shown to the units concerned")
    report_due: date | None = Field(
        None,
        description="assign (交办) instead of forward: the day the unit must report back "
        "(today or later, China Standard Time)",
    )


@cases_router.post(
    "/cases/{tracking_number}/reroute",
    summary="Name the handling unit by hand (operators, or the petition bureau holding the case)",
    status_code=201,
)
async def reroute(
    request: Request, tracking_number: str, body: Reroute, principal: CurrentPrincipal
) -> dict[str, object]:
    """An operator (within their region) moves a case to another unit with a reason; the
    petition bureau that holds a case in triage names its lead unit the same way (a unit token
    of that bureau). Once the case has been moved ``transfer_cap`` times, the unit named here is
    final: it can no longer object. Answers the new decision with its history."""
    row = await _decision(request, tracking_number)
    holder = (
        row is not None
        and principal.role == "unit"
        and row.outcome == "triage"
        and principal.unit_id == row.unit_id
    )
    operator = (
        row is not None
        and principal.role == "operator"
        and within(_region(row), principal.region_code)
    )
    if row is None or not (holder or operator):
        raise NotFound("no routing decision for this case is visible to you")
    if row.outcome == "diverted" or (row.case_status and row.case_status not in MOVABLE_STATUSES):
        raise Conflict(
            f"the case is {row.case_status or row.outcome}: it can no longer be moved",
            extensions={"case_status": row.case_status or row.outcome},
        )
    state = request.app.state
    if body.report_due is not None and body.report_due < datetime.now(UTC).astimezone(CST).date():
        raise Invalid("report_due", "must be today or later (China Standard Time)")
    directory = state.jurisdiction.directory
    decision = named_by_hand(
        row=row,
        unit_id=body.unit_id,
        co_unit_ids=body.co_unit_ids,
        actor=f"{principal.role}:{principal.unit_id or principal.sub}",
        reason=body.reason,
        directory=directory,
    )
    cap = state.settings.transfer_cap
    async with state.db.transaction() as s:
        await move(
            s,
            topic=state.settings.topic("routing"),
            row=row,
            decision=decision,
            cause="operator",
            reason=body.reason,
            actor=f"{principal.role}:{principal.unit_id or principal.sub}",
            at=datetime.now(UTC),
            directory=directory,
            objected=row.objected_unit_ids or [],
            objection_allowed=row.transfers + 1 <= cap,
            correlation_id=correlation_id.get() or row.case_id,
            report_due=body.report_due,
        )
    fresh = await _decision(request, tracking_number)
    return await with_history(request, fresh)


class Preview(BaseModel):
    """The facts of a matter, as intake located and classified them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    region_code: str = Field(pattern=r"^\d{2,12}$", description="the region where it arose")
    category: str = Field(description="a category code (TAXONOMY)")
    kind: str = Field("grievance", description="grievance, suggestion or accusation")
    accused_unit_id: str | None = Field(None, min_length=3, max_length=100)
    headcount: int = Field(1, ge=1, le=100000)
    text: str = Field("", max_length=10200, description="title and content: the major flag")
    routing_unit_id: str | None = Field(
        None, min_length=3, max_length=100, description="a themed channel's routing override"
    )


class PreviewUnit(BaseModel):
    unit_id: str
    name: str | None = None
    function: str
    level: str
    region_code: str


class PreviewAnswer(BaseModel):
    outcome: str = Field(description="routed, diverted (诉访分离) or triage (the bureau names it)")
    unit: PreviewUnit | None = Field(None, description="the competent unit (the lead)")
    co_units: list[PreviewUnit] = []
    major: bool = Field(description="major or urgent: the same-level petition bureau is told")
    notify_units: list[PreviewUnit] = []
    rule: str
    explanation: str = Field(description="the rule path, step by step")


def _unit(directory: Any, unit_id: str | None) -> dict[str, object] | None:
    unit = directory.get(unit_id) if unit_id else None
    if unit is None:
        return None
    return {
        "unit_id": unit.id,
        "name": unit.name,
        "function": unit.function,
        "level": unit.level,
        "region_code": unit.region_code,
    }


@router.post(
    "/preview",
    summary="Where a matter would go, without registering it (clerks at any window, operators)",
    response_model=PreviewAnswer,
)
async def preview(
    request: Request,
    body: Preview,
    principal: Annotated[
        Principal, Depends(require_role("unit", "operator", "grid_worker", "service"))
    ],
) -> dict[str, object]:
    """The rules' answer for these facts on the directory as it is now: the competent unit,
    its co-handlers and the rule path. A window (无差别受理) shows it at once; the case itself
    is routed by the same rules when its event arrives, so the two agree unless the directory
    changes in between."""
    if body.category not in CATEGORIES:
        raise Invalid("category", f"unknown category; use one of: {', '.join(CATEGORIES)}")
    if body.kind not in KINDS:
        raise Invalid("kind", "must be grievance, suggestion or accusation")
    directory = request.app.state.jurisdiction.directory
    decision = decide(
        region_code=body.region_code,
        category=body.category,
        kind=body.kind,
        accused_unit_id=body.accused_unit_id,
        headcount=body.headcount,
        text=body.text,
        directory=directory,
        override_unit_id=body.routing_unit_id,
    )
    lead = _unit(directory, decision.lead_unit_id)
    return {
        "outcome": decision.outcome,
        "unit": lead,
        "co_units": [u for u in (_unit(directory, x) for x in decision.co_unit_ids) if u],
        "major": decision.major,
        "notify_units": [u for u in (_unit(directory, x) for x in decision.notify_unit_ids) if u],
        "rule": rule_of(decision),
        "explanation": explain(decision),
    }


async def _decision(request: Request, tracking_number: str) -> Any:
    number = numbers.normalize(tracking_number)
    async with request.app.state.db.sessions() as s:
        return (
            await s.execute(select(decisions).where(decisions.c.tracking_number == number))
        ).first()


def _region(row: Any) -> str:
    """Where the matter arose (what an operator's region scope is about)."""
    return str((row.inputs or {}).get("region_code") or row.region_code)


async def with_history(request: Request, row: Any) -> dict[str, object]:
    async with request.app.state.db.sessions() as s:
        history = (
            await s.execute(
                select(moves).where(moves.c.case_id == row.case_id).order_by(moves.c.revision)
            )
        ).all()
    return {
        **public(row),
        "history": [
            {
                "revision": m.revision,
                "cause": m.cause,
                "outcome": m.outcome,
                "unit_id": m.unit_id or None,
                "previous_unit_id": m.previous_unit_id,
                "actor": m.actor,
                "reason": m.reason,
                "rule": m.rule,
                "at": m.at.isoformat(),
            }
            for m in history
        ],
    }


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
        "revision": row.revision,
        "transfers": row.transfers,
        "objected_unit_ids": row.objected_unit_ids or [],
        "objection_allowed": bool(row.objection_allowed) and row.outcome == "routed",
        "case_status": row.case_status,
    }
