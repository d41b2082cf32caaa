"""The directory API: units (filter by region, level, function, name) and regions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select

from routing.models import units
from shared.errors import Invalid, NotFound
from shared.regions import RegionDirectory

router = APIRouter(prefix="/api/v1", tags=["directory"])


def _public(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "region_code": row.region_code,
        "level": row.level,
        "function": row.function,
        "parent_id": row.parent_id,
        "status": row.status,
        "successor_id": row.successor_id,
    }


def _region_code(code: str) -> str:
    try:
        region = RegionDirectory.default().get(code)
    except ValueError as bad:
        raise Invalid("region_code", "must be 6, 9 or 12 digits, e.g. 110107") from bad
    if code.strip("0") == "":
        return "000000"
    if region is None:
        raise NotFound(f"no region has the code {code}")
    return region.short


@router.get("/units", summary="The unit directory, filtered and cursor-paginated")
async def list_units(
    request: Request,
    region_code: Annotated[str | None, Query(pattern=r"^\d{6}(\d{3}(\d{3})?)?$")] = None,
    level: Annotated[
        str | None, Query(pattern="^(national|province|prefecture|county|township)$")
    ] = None,
    function: Annotated[str | None, Query(max_length=50)] = None,
    name: Annotated[
        str | None, Query(min_length=1, max_length=50, description="part of the unit's name")
    ] = None,
    status: Annotated[str, Query(pattern="^(active|retired|any)$")] = "active",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
) -> dict[str, Any]:
    q = select(units)
    if region_code:
        q = q.where(units.c.region_code == _region_code(region_code))
    if level:
        q = q.where(units.c.level == level)
    if function:
        q = q.where(units.c.function == function)
    if name:
        q = q.where(units.c.name.contains(name, autoescape=True))
    if status != "any":
        q = q.where(units.c.status == status)
    if cursor:
        q = q.where(units.c.id > cursor)
    async with request.app.state.db.sessions() as s:
        rows = (await s.execute(q.order_by(units.c.id).limit(limit + 1))).all()
    items = [_public(r) for r in rows[:limit]]
    return {"items": items, "next_cursor": items[-1]["id"] if len(rows) > limit else None}


@router.get("/units/{unit_id}", summary="One unit")
async def get_unit(request: Request, unit_id: str) -> dict[str, Any]:
    async with request.app.state.db.sessions() as s:
        row = (await s.execute(select(units).where(units.c.id == unit_id))).first()
    if row is None:
        raise NotFound(f"no unit {unit_id}")
    return _public(row)


@router.get("/regions/{code}", summary="A region: name, level, parent and children")
async def get_region(code: str) -> dict[str, Any]:
    directory = RegionDirectory.default()
    try:
        region = directory.get(code)
    except ValueError as bad:
        raise Invalid("code", "must be 6, 9 or 12 digits, e.g. 110107") from bad
    if region is None:
        gone = directory.abolished(code) if code.isdigit() else None
        if gone is not None:
            raise NotFound(
                f"region {code} was abolished ({gone.description}); successors: "
                f"{', '.join(gone.successors) or 'none recorded'}"
            )
        raise NotFound(f"no region has the code {code}")
    parent = directory.get(region.parent) if region.parent else None
    return {
        "code": region.short,
        "code12": region.code,
        "name": region.name,
        "level": region.level,
        "source": region.source,
        "parent": {"code": parent.short, "name": parent.name} if parent else None,
        "children": [
            {"code": c.short, "name": c.name, "level": c.level}
            for c in directory.children(region.code)
        ],
    }
