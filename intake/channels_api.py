"""Themed channels (专题通道): operators open, change and close them; anyone lists the open
ones with their forms (the petitioners' apps show them)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError

from intake.channels import (
    Channel,
    ChannelCreate,
    ChannelList,
    ChannelOut,
    ChannelPatch,
    state_of,
)
from intake.models import themed_channels
from shared.auth import Principal, require_role
from shared.db import Database
from shared.errors import Conflict, Forbidden, Invalid, NotFound
from shared.regions import AbolishedRegion, RegionDirectory, UnknownRegion, within

router = APIRouter(prefix="/api/v1", tags=["channels"])

Operator = Annotated[Principal, Depends(require_role("operator"))]
Code = Annotated[str, Path(max_length=40)]
t = themed_channels


def _out(row: Any, now: datetime) -> ChannelOut:
    return ChannelOut(
        code=row.code,
        name=row.name,
        description=row.description,
        region_code=row.region_code,
        opens_at=row.opens_at,
        closes_at=row.closes_at,
        closed_at=row.closed_at,
        state=state_of(row.opens_at, row.closes_at, row.closed_at, now),
        default_category=row.default_category,
        priority=row.priority,
        target_response_hours=row.target_response_hours,
        fields=row.fields,
        routing_overrides=row.routing_overrides,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def load_channel(db: Database, code: str) -> Channel | None:
    async with db.sessions() as s:
        row = (await s.execute(select(t).where(t.c.code == code))).first()
    return Channel.from_row(row) if row else None


def _scope(code: str) -> str:
    try:
        return RegionDirectory.default().check(code).short
    except AbolishedRegion as gone:
        raise Invalid("region_code", f"{code} was abolished ({gone.description})") from gone
    except UnknownRegion as unknown:
        raise Invalid("region_code", f"no region has the code {code}") from unknown


def _may_manage(principal: Principal, scope: str | None) -> None:
    """An operator whose token names a region manages channels scoped within it only."""
    if principal.region_code and not (scope and within(scope, principal.region_code)):
        where = f"{scope} lies outside it" if scope else "a channel without a scope is national"
        message = f"must lie within {principal.region_code}"
        raise Forbidden(
            f"your token covers {principal.region_code}; {where}",
            errors=[{"field": "region_code", "message": message}],
        )


async def _row(s: Any, code: str) -> Any:
    row = (await s.execute(select(t).where(t.c.code == code))).first()
    if row is None:
        raise NotFound(
            f"no themed channel has the code '{code}'",
            errors=[{"field": "code", "message": "unknown channel"}],
        )
    return row


@router.post("/channels", status_code=201, response_model=ChannelOut, summary="Open a channel")
async def open_channel(request: Request, body: ChannelCreate, principal: Operator) -> ChannelOut:
    now = datetime.now(UTC)
    scope = _scope(body.region_code) if body.region_code else None
    _may_manage(principal, scope)
    opens = body.opens_at or now
    if body.closes_at is not None and body.closes_at <= opens:
        raise Invalid("closes_at", f"must be after opens_at ({opens.isoformat()})")
    values = {
        "code": body.code,
        "name": body.name,
        "description": body.description,
        "region_code": scope,
        "opens_at": opens,
        "closes_at": body.closes_at,
        "closed_at": None,
        "default_category": body.default_category,
        "priority": body.priority,
        "target_response_hours": body.target_response_hours,
        "fields": [f.model_dump(exclude_none=True) for f in body.fields],
        "routing_overrides": [o.model_dump() for o in body.routing_overrides],
        "created_by": f"{principal.role}:{principal.sub}",
        "created_at": now,
        "updated_at": now,
    }
    taken = Conflict(
        f"a channel with the code '{body.code}' exists; choose another code",
        errors=[{"field": "code", "message": "already taken"}],
    )
    db: Database = request.app.state.db
    try:
        async with db.transaction() as s:
            if (await s.execute(select(t.c.code).where(t.c.code == body.code))).first():
                raise taken
            await s.execute(t.insert().values(**values))
    except IntegrityError as race:
        raise taken from race
    async with db.sessions() as s:
        return _out(await _row(s, body.code), now)


@router.get("/channels", response_model=ChannelList, summary="Themed channels and their forms")
async def list_channels(
    request: Request,
    state: Annotated[Literal["open", "scheduled", "closed", "all"], Query()] = "open",
) -> ChannelList:
    now = datetime.now(UTC)
    ended = or_(t.c.closed_at.is_not(None), and_(t.c.closes_at.is_not(None), t.c.closes_at <= now))
    stmt = select(t).order_by(t.c.opens_at.desc(), t.c.code)
    if state == "open":
        stmt = stmt.where(~ended, t.c.opens_at <= now)
    elif state == "scheduled":
        stmt = stmt.where(~ended, t.c.opens_at > now)
    elif state == "closed":
        stmt = stmt.where(ended)
    async with request.app.state.db.sessions() as s:
        rows = (await s.execute(stmt)).all()
    return ChannelList(channels=[_out(r, now) for r in rows])


@router.get("/channels/{code}", response_model=ChannelOut, summary="One themed channel")
async def get_channel(request: Request, code: Code) -> ChannelOut:
    async with request.app.state.db.sessions() as s:
        return _out(await _row(s, code), datetime.now(UTC))


@router.patch("/channels/{code}", response_model=ChannelOut, summary="Change a channel")
async def patch_channel(
    request: Request, code: Code, body: ChannelPatch, principal: Operator
) -> ChannelOut:
    now = datetime.now(UTC)
    sent = body.model_fields_set
    async with request.app.state.db.transaction() as s:
        row = await _row(s, code)
        _may_manage(principal, row.region_code)
        if state_of(row.opens_at, row.closes_at, row.closed_at, now) == "closed":
            raise Conflict(
                f"channel '{code}' is closed; open a new channel instead",
                errors=[{"field": "code", "message": "closed"}],
            )
        values: dict[str, Any] = {"updated_at": now}
        for name in ("name", "description", "priority", "target_response_hours"):
            if name in sent:
                values[name] = getattr(body, name)
        if "closes_at" in sent:
            if body.closes_at is not None and body.closes_at <= max(row.opens_at, now):
                raise Invalid(
                    "closes_at", "must be later than now and than opens_at; to end it now, close it"
                )
            values["closes_at"] = body.closes_at
        if "routing_overrides" in sent:
            values["routing_overrides"] = [o.model_dump() for o in body.routing_overrides or []]
        await s.execute(t.update().where(t.c.code == code).values(**values))
        return _out(await _row(s, code), now)


@router.post("/channels/{code}/close", response_model=ChannelOut, summary="Close a channel")
async def close_channel(request: Request, code: Code, principal: Operator) -> ChannelOut:
    now = datetime.now(UTC)
    async with request.app.state.db.transaction() as s:
        row = await _row(s, code)
        _may_manage(principal, row.region_code)
        if row.closed_at is not None:
            raise Conflict(
                f"channel '{code}' was already closed on {row.closed_at.isoformat()}",
                errors=[{"field": "code", "message": "already closed"}],
            )
        await s.execute(t.update().where(t.c.code == code).values(closed_at=now, updated_at=now))
        return _out(await _row(s, code), now)
