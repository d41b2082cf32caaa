"""Satisfaction ratings (PROCEDURE §8): ``GET`` and ``POST /api/v1/cases/{tracking_number}/rating``.

The petitioner rates with their account (the owner's token) or, without one, with the case's
query code (rate limited; a wrong code answers like an unknown case). The handling unit and
operators read the ratings. A refusal is a 409 whose ``reason`` is a stable code:
``accusation``, ``diverted``, ``not_a_grievance``, ``proactive``, ``anonymous``,
``identity_unclear``,
``repeat_petition``, ``moment_not_reached``, ``window_closed``, ``change_period_over``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from evaluation import ratings as rules
from evaluation.models import callbacks, case_reads, ratings
from evaluation.rating_views import rating_view
from evaluation.ratings_store import Writer, calendar_of
from shared import tracking_number as numbers
from shared.auth import MaybePrincipal, Principal
from shared.errors import Conflict, Forbidden, NotFound
from shared.logging import correlation_id
from shared.regions import within

router = APIRouter(prefix="/api/v1", tags=["ratings"])

NOT_VISIBLE = "no case with this tracking number is visible to you"
QueryCode = Annotated[
    str | None, Query(max_length=20, description="the case's query code, instead of a token")
]


class RatingIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    moment: Literal["acceptance", "reply"] = Field(
        description="acceptance: after the acceptance notice (was it accepted properly); "
        "reply: after the written reply (was it solved)"
    )
    level: Literal["satisfied", "basically_satisfied", "dissatisfied"] = Field(
        description="满意, 基本满意, 不满意; dissatisfied opens a call-back by the handling unit"
    )
    comment: str | None = Field(
        None, max_length=1000, description="optional; a change without it keeps the earlier one"
    )


async def _case(s: Any, tracking_number: str) -> Any:
    number = numbers.normalize(tracking_number)
    q = select(case_reads).where(case_reads.c.tracking_number == number)
    return (await s.execute(q)).first()


async def _rows(s: Any, case_id: str) -> tuple[list[Any], list[Any]]:
    rows = (await s.execute(select(ratings).where(ratings.c.case_id == case_id))).all()
    cbs = (
        await s.execute(
            select(callbacks)
            .where(callbacks.c.case_id == case_id)
            .order_by(callbacks.c.opened_at, callbacks.c.id)
        )
    ).all()
    return list(rows), list(cbs)


def _is_owner(principal: Principal, case: Any) -> bool:
    return (
        principal.role == "petitioner" and bool(case.owner_ref) and case.owner_ref == principal.sub
    )


def _reads_internally(principal: Principal, case: Any, rows: list[Any]) -> bool:
    """The handling unit (now, or at a rated moment) and operators within their region."""
    if principal.role in ("operator", "service"):
        return within(case.region_code, principal.region_code)
    if principal.role == "unit" and principal.unit_id:
        return principal.unit_id in {case.unit_id, *(r.unit_id for r in rows)}
    return False


@router.get("/cases/{tracking_number}/rating", summary="The ratings of a case, both moments")
async def get_rating(
    request: Request, tracking_number: str, principal: MaybePrincipal, query_code: QueryCode = None
) -> dict[str, Any]:
    """Each moment's state (``ineligible``, ``not_reached``, ``open``, ``rated``,
    ``not_rated``), its window and, once rated, the level and until when it may change; and
    the call-backs a dissatisfied rating opened."""
    state = request.app.state
    state.gate.admit(request, numbers.normalize(tracking_number), principal, query_code)
    async with state.db.sessions() as s:
        case = await _case(s, tracking_number)
        if principal is None:
            await state.gate.verify(query_code, case.query_code_hash if case else None)
        elif case is None:
            raise NotFound(NOT_VISIBLE)
        rows, cbs = await _rows(s, case.case_id)
    internal = principal is not None and _reads_internally(principal, case, rows)
    if principal is not None and not internal and not _is_owner(principal, case):
        raise NotFound(NOT_VISIBLE)
    settings = state.settings
    return rating_view(
        case,
        rows,
        cbs,
        internal=internal,
        now=datetime.now(UTC),
        settings=settings,
        calendar=calendar_of(settings),
    )


@router.post(
    "/cases/{tracking_number}/rating",
    status_code=201,
    summary="Rate a case at a moment (the petitioner, or ?query_code=)",
    responses={200: {"description": "a rating changed within the hours allowed"}},
)
async def post_rating(
    request: Request,
    tracking_number: str,
    body: RatingIn,
    principal: MaybePrincipal,
    query_code: QueryCode = None,
) -> JSONResponse:
    """201 for the first rating of a moment, 200 for a change within
    ``XINFANG_RATING_CHANGE_HOURS`` (24) of it; 409 naming the ``reason`` otherwise."""
    state = request.app.state
    settings = state.settings
    if principal is not None and principal.role != "petitioner":
        raise Forbidden("only the petitioner rates a case")
    state.gate.admit(request, numbers.normalize(tracking_number), principal, query_code)
    now = datetime.now(UTC)
    async with state.db.transaction() as s:
        case = await _case(s, tracking_number)
        if principal is None:
            await state.gate.verify(query_code, case.query_code_hash if case else None)
        elif case is None or not _is_owner(principal, case):
            raise NotFound(NOT_VISIBLE)
        w = Writer(s, settings, correlation_id.get() or case.case_id)
        row = await w.slot(case.case_id, body.moment)
        reached = rules.reached_at(case, body.moment)
        if row is None and reached is not None:  # the moment's event opens it; this is a fallback
            row = await w.open_window(case, body.moment, reached, case.unit_id)
        slot = rules.Slot(row.state, row.window_closes, row.rated_at) if row else None
        action = rules.check(case, body.moment, slot, now, settings.rating_change_hours)
        if isinstance(action, rules.Refusal):
            extra = {"reason": action.reason, "moment": body.moment}
            if row is not None:
                extra["window_closes"] = row.window_closes.isoformat()
            raise Conflict(action.detail, extensions=extra)
        by = "query_code" if principal is None else "owner"
        # a change without a comment keeps the one given before; null or "" clears it
        given = "comment" in body.model_fields_set or row.state != "rated"
        comment = (body.comment or None) if given else row.comment
        unchanged = action == "change" and (row.level, row.comment) == (body.level, comment)
        if not unchanged:
            apply = w.rate if action == "rate" else w.change
            if not await apply(row, level=body.level, comment=comment, by=by, now=now):
                raise Conflict(
                    "the rating changed meanwhile; read it again",
                    extensions={"reason": "changed_meanwhile", "moment": body.moment},
                )
    async with state.db.sessions() as s:
        rows, cbs = await _rows(s, case.case_id)
    view = rating_view(
        case,
        rows,
        cbs,
        internal=False,
        now=now,
        settings=settings,
        calendar=calendar_of(settings),
    )
    return JSONResponse(view, status_code=201 if action == "rate" else 200)
