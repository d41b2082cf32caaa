"""Operators keep the directory: add, rename, merge and retire units (Art. 24: a retired unit
names its successor, and routing follows it). Every change is audited with who, when and why,
and the routing rules start using it once this process has reloaded the directory in the
background, and in other replicas within ``XINFANG_DIRECTORY_REFRESH_SECONDS``
(``Jurisdiction.follow``). An operator whose token names a region edits that region's units."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from routing.directory_api import _public, _region_code
from routing.models import unit_changes, units
from shared.auth import Principal, require_role
from shared.errors import Conflict, Forbidden, Invalid, NotFound
from shared.regions import within
from shared.vocabulary import FUNCTIONS

router = APIRouter(prefix="/api/v1/units", tags=["directory"])
Operator = Annotated[Principal, Depends(require_role("operator"))]


class UnitCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=2, max_length=200)
    region_code: str = Field(pattern=r"^\d{6}(\d{3}(\d{3})?)?$")
    function: str
    parent_id: str | None = Field(None, max_length=100)
    reason: str = Field(min_length=4, max_length=300)


class UnitRename(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: str = Field(min_length=2, max_length=200)
    reason: str = Field(min_length=4, max_length=300)


class UnitRetire(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    successor_id: str = Field(min_length=3, max_length=100)
    reason: str = Field(min_length=4, max_length=300)


async def _audit(
    s: Any,
    unit_id: str,
    action: str,
    who: Principal,
    reason: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    await s.execute(
        unit_changes.insert().values(
            unit_id=unit_id,
            action=action,
            actor=who.sub,
            reason=reason,
            before=before,
            after=after,
            at=datetime.now(UTC),
        )
    )


async def _row(s: Any, unit_id: str) -> Any:
    row = (await s.execute(select(units).where(units.c.id == unit_id))).first()
    if row is None:
        raise NotFound(f"no unit {unit_id}")
    return row


def _in_scope(who: Principal, region_code: str) -> None:
    """An operator whose token names a region edits and audits the units of that region only
    (the directory itself is public: a refusal reveals nothing)."""
    if not within(region_code, who.region_code):
        raise Forbidden(f"your token is limited to region {who.region_code}")


def _reload(request: Request) -> None:
    """This process routes by the edited directory once its background reload is done (a few
    seconds); the other replicas within ``XINFANG_DIRECTORY_REFRESH_SECONDS``."""
    request.app.state.jurisdiction.refresh_soon(request.app.state.db)


@router.post("", status_code=201, summary="Add a unit (operators; audited)")
async def add_unit(request: Request, body: UnitCreate, who: Operator) -> dict[str, Any]:
    if body.function not in FUNCTIONS:
        raise Invalid("function", f"unknown function; use one of: {', '.join(FUNCTIONS)}")
    region = _region_code(body.region_code)
    _in_scope(who, region)
    level = {6: "county", 9: "township"}.get(len(region), "county")
    if region.endswith("0000"):
        level = "province"
    elif region.endswith("00") and len(region) == 6:
        level = "prefecture"
    async with request.app.state.db.transaction() as s:
        if body.parent_id:
            await _row(s, body.parent_id)
        base = f"{region}:{body.function}"
        taken = (
            await s.execute(
                select(func.count())
                .select_from(units)
                .where((units.c.id == base) | units.c.id.like(f"{base}:%"))
            )
        ).scalar_one()
        unit_id = base if taken == 0 else f"{base}:{taken + 1}"
        values = {
            "id": unit_id,
            "name": body.name,
            "region_code": region,
            "level": level,
            "function": body.function,
            "parent_id": body.parent_id,
            "status": "active",
            "origin": "operator",
            "updated_at": datetime.now(UTC),
        }
        await s.execute(units.insert().values(**values))
        await _audit(
            s,
            unit_id,
            "add",
            who,
            body.reason,
            None,
            {k: v for k, v in values.items() if k != "updated_at"},
        )
        row = await _row(s, unit_id)
    _reload(request)
    return _public(row)


@router.patch("/{unit_id}", summary="Rename a unit (operators; audited)")
async def rename_unit(
    request: Request, unit_id: str, body: UnitRename, who: Operator
) -> dict[str, Any]:
    async with request.app.state.db.transaction() as s:
        before = await _row(s, unit_id)
        _in_scope(who, before.region_code)
        await s.execute(
            units.update()
            .where(units.c.id == unit_id)
            .values(name=body.name, origin="operator", updated_at=datetime.now(UTC))
        )
        await _audit(
            s, unit_id, "rename", who, body.reason, {"name": before.name}, {"name": body.name}
        )
        row = await _row(s, unit_id)
    _reload(request)
    return _public(row)


@router.post(
    "/{unit_id}/retire",
    summary="Retire or merge a unit into its successor "
    "(operators; audited); routing follows the successor",
)
async def retire_unit(
    request: Request, unit_id: str, body: UnitRetire, who: Operator
) -> dict[str, Any]:
    if body.successor_id == unit_id:
        raise Invalid("successor_id", "a unit cannot succeed itself")
    async with request.app.state.db.transaction() as s:
        before = await _row(s, unit_id)
        _in_scope(who, before.region_code)
        successor = await _row(s, body.successor_id)
        _in_scope(who, successor.region_code)
        if before.status == "retired":
            raise Conflict(f"{unit_id} is already retired (successor {before.successor_id})")
        if successor.status != "active":
            raise Invalid(
                "successor_id",
                f"{body.successor_id} is retired itself; name its "
                f"successor {successor.successor_id}",
            )
        await s.execute(
            units.update()
            .where(units.c.id == unit_id)
            .values(status="retired", successor_id=body.successor_id, updated_at=datetime.now(UTC))
        )
        await _audit(
            s,
            unit_id,
            "retire",
            who,
            body.reason,
            {"status": before.status},
            {"status": "retired", "successor_id": body.successor_id},
        )
        row = await _row(s, unit_id)
    _reload(request)
    return _public(row)


@router.get("/{unit_id}/changes", summary="The audit trail of a unit (operators)")
async def unit_history(request: Request, unit_id: str, who: Operator) -> dict[str, Any]:
    async with request.app.state.db.sessions() as s:
        _in_scope(who, (await _row(s, unit_id)).region_code)
        rows = (
            await s.execute(
                select(unit_changes)
                .where(unit_changes.c.unit_id == unit_id)
                .order_by(unit_changes.c.id)
            )
        ).all()
    return {
        "unit_id": unit_id,
        "changes": [
            {
                "action": r.action,
                "actor": r.actor,
                "reason": r.reason,
                "before": r.before,
                "after": r.after,
                "at": r.at.isoformat(),
            }
            for r in rows
        ],
    }
