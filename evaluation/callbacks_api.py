"""Call-back tasks (回访) opened by dissatisfied ratings: the handling unit lists its own and
says what it did; operators see those within their region."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, or_, select, update

from evaluation import ratings as rules
from evaluation.models import callbacks, ratings
from evaluation.rating_views import callback_view
from evaluation.ratings_store import RUNNING, Writer
from shared.auth import CurrentPrincipal, Principal, require_role
from shared.contracts import CallbackDone
from shared.errors import Conflict, Forbidden, Invalid, NotFound
from shared.logging import correlation_id
from shared.regions import scope_prefix, within

router = APIRouter(prefix="/api/v1", tags=["call-backs"])

Status = Literal["open", "overdue", "done", "cancelled"]
NOT_VISIBLE = "no call-back with this id is visible to you"


class CallbackDoneIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: str = Field(
        min_length=4,
        max_length=2000,
        description="what the unit did: whom it called, what it found",
    )


def _may_see(principal: Principal, cb: Any) -> bool:
    if principal.role == "operator":
        return within(cb.region_code, principal.region_code)
    return principal.role == "unit" and principal.unit_id == cb.unit_id


def _cursor(text: str) -> tuple[date, str]:
    day, _, last = text.partition("~")
    try:
        return date.fromisoformat(day), last
    except ValueError as exc:
        raise Invalid("cursor", "give the next_cursor of the previous page") from exc


@router.get("/units/{unit_id}/callbacks", summary="A unit's call-back tasks, soonest due first")
async def unit_callbacks(
    request: Request,
    unit_id: str,
    principal: Annotated[Principal, Depends(require_role("unit", "operator"))],
    status: Annotated[list[Status] | None, Query(description="repeat for several")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(description="the next_cursor of the last page")] = None,
) -> dict[str, Any]:
    if principal.role == "unit" and principal.unit_id != unit_id:
        raise Forbidden("a unit sees only its own call-backs")
    if principal.role == "operator" and not within(unit_id.split(":")[0], principal.region_code):
        raise Forbidden(f"your token is limited to region {principal.region_code}")
    q = (
        select(callbacks, ratings.c.level, ratings.c.comment)
        .join(ratings, ratings.c.id == callbacks.c.rating_id)
        .where(callbacks.c.unit_id == unit_id)
    )
    if principal.role == "operator" and principal.region_code:
        q = q.where(callbacks.c.region_code.startswith(scope_prefix(principal.region_code)))
    if status:
        q = q.where(callbacks.c.status.in_(status))
    if cursor:
        day, last = _cursor(cursor)
        q = q.where(or_(callbacks.c.due > day, and_(callbacks.c.due == day, callbacks.c.id > last)))
    q = q.order_by(callbacks.c.due, callbacks.c.id).limit(limit + 1)
    async with request.app.state.db.sessions() as s:
        rows = (await s.execute(q)).all()
    today = rules.today_of(datetime.now(UTC))
    items = [callback_view(r, internal=True, today=today, rating=r) for r in rows[:limit]]
    more = len(rows) > limit
    last_row = rows[limit - 1] if more else None
    return {
        "items": items,
        "next_cursor": f"{last_row.due.isoformat()}~{last_row.id}" if last_row else None,
    }


async def _one(s: Any, callback_id: str) -> Any:
    q = (
        select(callbacks, ratings.c.level, ratings.c.comment)
        .join(ratings, ratings.c.id == callbacks.c.rating_id)
        .where(callbacks.c.id == callback_id)
    )
    return (await s.execute(q)).first()


@router.get("/callbacks/{callback_id}", summary="One call-back task (its unit, operators)")
async def get_callback(
    request: Request, callback_id: str, principal: CurrentPrincipal
) -> dict[str, Any]:
    async with request.app.state.db.sessions() as s:
        cb = await _one(s, callback_id)
    if cb is None or not _may_see(principal, cb):
        raise NotFound(NOT_VISIBLE)
    return callback_view(cb, internal=True, today=rules.today_of(datetime.now(UTC)), rating=cb)


@router.post(
    "/callbacks/{callback_id}/done", summary="The unit called the petitioner back: what it did"
)
async def callback_done(
    request: Request, callback_id: str, body: CallbackDoneIn, principal: CurrentPrincipal
) -> dict[str, Any]:
    """Late is allowed (and recorded as not on time); a call-back done or cancelled is a 409."""
    if principal.role != "unit":
        raise Forbidden("the handling unit records its call-back")
    state = request.app.state
    now = datetime.now(UTC)
    async with state.db.transaction() as s:
        cb = await _one(s, callback_id)
        if cb is None or not _may_see(principal, cb):
            raise NotFound(NOT_VISIBLE)
        if cb.status not in RUNNING:
            when = cb.done_at or cb.cancelled_at
            raise Conflict(
                f"this call-back is already {cb.status}"
                + (f" ({when.isoformat()})" if when else ""),
                extensions={"callback_status": cb.status},
            )
        on_time = rules.today_of(now) <= cb.due
        done = await s.execute(
            update(callbacks)
            .where(callbacks.c.id == cb.id, callbacks.c.status.in_(RUNNING))
            .values(
                status="done", done_at=now, done_by=principal.sub, note=body.note, on_time=on_time
            )
        )
        if done.rowcount != 1:
            raise Conflict("the call-back changed meanwhile; read it again")
        w = Writer(s, state.settings, correlation_id.get() or cb.case_id)
        await w.emit(
            CallbackDone(
                callback_id=cb.id,
                case_id=cb.case_id,
                tracking_number=cb.tracking_number,
                unit_id=cb.unit_id,
                done_at=now,
                due=cb.due,
                on_time=on_time,
                done_by=principal.sub,
            ),
            cb.case_id,
        )
    async with state.db.sessions() as s:
        fresh = await _one(s, callback_id)
    return callback_view(fresh, internal=True, today=rules.today_of(now), rating=fresh)
