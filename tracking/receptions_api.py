"""Video and joint receptions (视频接访 / 联合接访) over the API.

A petitioner, the handling unit or the petition bureau asks for one; the bureau of the case's
county proposes slots and so invites the handling and co-handling units; the petitioner (or a
clerk for them) confirms one; the bureau records what came of it. Every step writes the
reception, the case's timeline and its events (outbox, webhooks) in one transaction."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import String, cast, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared import tracking_number as numbers
from shared.auth import CurrentPrincipal, MaybePrincipal, Principal, require_role
from shared.contracts import (
    NotificationRequested,
    ReceptionCancelled,
    ReceptionHeld,
    ReceptionInvited,
    ReceptionRequested,
    ReceptionScheduled,
)
from shared.errors import Conflict, Forbidden, Invalid, NotFound
from shared.logging import correlation_id
from shared.regions import scope_prefix, within
from shared.vocabulary import CST
from tracking import receptions as rules
from tracking.clocks import calendar_of
from tracking.models import cases, receptions
from tracking.store import Writer
from tracking.views import may_see

router = APIRouter(prefix="/api/v1", tags=["receptions"])
Staff = Annotated[Principal, Depends(require_role("operator", "unit"))]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReceptionRequest(_Body):
    reason: str | None = Field(None, max_length=1000, description="what the meeting is for")


Slots = Annotated[
    list[datetime],
    Field(
        min_length=1,
        max_length=5,
        description="start times: in the future, on official working days, the whole slot "
        "inside the reception hours (China time, XINFANG_RECEPTION_HOURS)",
    ),
]
Minutes = Annotated[int, Field(ge=15, le=240, description="each slot's length in minutes")]


class SlotProposal(_Body):
    slots: Slots
    duration_minutes: Minutes = 60


class Confirmation(_Body):
    starts_at: datetime = Field(description="one of the proposed slots")


class Reschedule(_Body):
    reason: str = Field(min_length=2, max_length=1000)
    slots: Slots | None = Field(
        None, description="the bureau's new slots; the petitioner gives none (the bureau will)"
    )
    duration_minutes: Minutes | None = None


class Cancellation(_Body):
    reason: str = Field(min_length=2, max_length=1000)


class Attendee(_Body):
    name: str = Field(min_length=1, max_length=60)
    unit_id: str | None = Field(None, max_length=100)
    role: str = Field(min_length=1, max_length=60)


class AgreedAction(_Body):
    text: str = Field(min_length=2, max_length=1000)
    unit_id: str | None = Field(None, max_length=100)
    due: date | None = None


class Record(_Body):
    outcome: Literal["held", "no_show"]
    attendees: list[Attendee] = Field(default_factory=list, max_length=30)
    minutes: str | None = Field(None, max_length=20000, description="internal; required when held")
    summary: str | None = Field(None, max_length=5000, description="public; required when held")
    actions: list[AgreedAction] = Field(default_factory=list, max_length=20)


class ReceptionOut(BaseModel):
    """A reception as its reader may see it (``minutes``, ``attendees`` and
    ``reminders_sent`` only for units and operators)."""

    id: str
    tracking_number: str
    region_code: str
    bureau_unit_id: str = Field(description="the petition bureau that receives")
    status: Literal["requested", "proposed", "scheduled", "held", "no_show", "cancelled"]
    requested_by: str
    reason: str | None = None
    slots: list[str] = Field(description="proposed start times (UTC)")
    duration_minutes: int
    starts_at: str | None = None
    ends_at: str | None = None
    meeting_url: str | None = None
    unit_ids: list[str] = Field(description="every unit taking part (joint reception)")
    reschedules: int
    summary: str | None = Field(None, description="public: in the case's timeline")
    actions: list[dict[str, Any]] = Field(description="the actions agreed")
    cancel_reason: str | None = None
    created_at: str
    updated_at: str
    minutes: str | None = Field(None, description="internal: units and operators only")
    attendees: list[dict[str, Any]] | None = None
    reminders_sent: list[int] | None = Field(None, description="reminder leads sent (minutes)")


class ReceptionList(BaseModel):
    items: list[ReceptionOut]


# Answers leave out what the reader may not see (the internal fields), not null it
ONE: dict[str, Any] = {"response_model": ReceptionOut, "response_model_exclude_unset": True}
MANY: dict[str, Any] = {"response_model": ReceptionList, "response_model_exclude_unset": True}


# --- reading ----------------------------------------------------------------------------------


def view(row: Any, internal: bool) -> dict[str, Any]:
    """A reception as shown: the minutes and the attendees' names only to units and
    operators."""
    out: dict[str, Any] = {
        "id": row.id,
        "tracking_number": row.tracking_number,
        "region_code": row.region_code,
        "bureau_unit_id": row.bureau_unit_id,
        "status": row.status,
        "requested_by": row.requested_by,
        "reason": row.reason,
        "slots": list(row.slots or []),
        "duration_minutes": row.duration_minutes,
        "starts_at": rules.iso(row.starts_at),
        "ends_at": rules.iso(row.ends_at),
        "meeting_url": row.meeting_url,
        "unit_ids": list(row.unit_ids or []),
        "reschedules": row.reschedules,
        "summary": row.summary,
        "actions": list(row.actions or []),
        "cancel_reason": row.cancel_reason,
        "created_at": rules.iso(row.created_at),
        "updated_at": rules.iso(row.updated_at),
    }
    if internal:
        out.update(
            minutes=row.minutes,
            attendees=list(row.attendees or []),
            reminders_sent=list(row.reminders_sent or []),
        )
    return out


def _internal(principal: Principal | None) -> bool:
    return principal is not None and principal.role in ("operator", "unit")


def _sees_case(principal: Principal, case: Any) -> bool:
    return may_see(principal, case) or rules.is_bureau(principal, case.region_code)


def _sees(principal: Principal, row: Any, case: Any) -> bool:
    return _sees_case(principal, case) or rules.takes_part(principal, row)


async def _case(s: AsyncSession, tracking_number: str) -> Any:
    number = numbers.normalize(tracking_number)
    return (await s.execute(select(cases).where(cases.c.tracking_number == number))).first()


@router.get(
    "/cases/{tracking_number}/receptions",
    summary="A case's video receptions (whoever may read the case)",
    **MANY,
)
async def case_receptions(
    request: Request,
    tracking_number: str,
    principal: MaybePrincipal,
    query_code: Annotated[str | None, Query(max_length=20)] = None,
) -> dict[str, Any]:
    number = numbers.normalize(tracking_number)
    state = request.app.state
    state.gate.admit(request, number, principal, query_code)
    async with state.db.sessions() as s:
        case = await _case(s, number)
        if principal is None:
            await state.gate.verify(query_code, case.query_code_hash if case else None)
        elif case is None or not _sees_case(principal, case):
            raise NotFound("no case with this tracking number is visible to you")
        found = (
            await s.execute(
                select(receptions)
                .where(receptions.c.case_id == case.id)
                .order_by(receptions.c.created_at)
            )
        ).all()
    return {"items": [view(r, _internal(principal)) for r in found]}


@router.get(
    "/receptions", summary="Receptions to come or to arrange (the operator console)", **MANY
)
async def list_receptions(
    request: Request,
    principal: Staff,
    state: Annotated[
        Literal["upcoming", "pending", "all"],
        Query(
            description="upcoming: scheduled and not over, soonest first; pending: requested "
            "or proposed, awaiting a step, oldest first; all: every one, newest first"
        ),
    ] = "upcoming",
    region: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None,
    unit_id: Annotated[str | None, Query(max_length=100, description="a unit taking part")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    """Operators see the receptions of their region; a unit those it takes part in."""
    q = select(receptions)
    if principal.role == "unit":
        if unit_id and unit_id != principal.unit_id:
            raise Forbidden("a unit sees only the receptions it takes part in")
        unit_id = principal.unit_id
    elif principal.region_code:
        if region and not within(region, principal.region_code):
            raise Forbidden(f"your token is limited to region {principal.region_code}")
        q = q.where(receptions.c.region_code.startswith(scope_prefix(principal.region_code)))
    if region:
        q = q.where(receptions.c.region_code.startswith(scope_prefix(region)))
    if unit_id:
        q = q.where(cast(receptions.c.unit_ids, String).contains(f'"{unit_id}"', autoescape=True))
    now = datetime.now(UTC)
    if state == "upcoming":
        q = q.where(receptions.c.status == "scheduled", receptions.c.ends_at > now)
        q = q.order_by(receptions.c.starts_at, receptions.c.id)
    elif state == "pending":
        q = q.where(receptions.c.status.in_(("requested", "proposed")))
        q = q.order_by(receptions.c.created_at, receptions.c.id)
    else:
        q = q.order_by(receptions.c.created_at.desc(), receptions.c.id)
    async with request.app.state.db.sessions() as s:
        found = (await s.execute(q.limit(limit))).all()
    return {"items": [view(r, True) for r in found]}


@router.get("/receptions/{reception_id}", summary="One reception", **ONE)
async def get_reception(
    request: Request, reception_id: str, principal: CurrentPrincipal
) -> dict[str, Any]:
    async with request.app.state.db.sessions() as s:
        row, _case_row = await _load(s, reception_id, principal, lock=False)
    return view(row, _internal(principal))


# --- writing ----------------------------------------------------------------------------------


async def _load(s: AsyncSession, reception_id: str, principal: Principal, lock: bool) -> Any:
    q = select(receptions).where(receptions.c.id == reception_id)
    if lock and s.get_bind().dialect.name == "postgresql":
        q = q.with_for_update()
    row = (await s.execute(q)).first()
    case = None
    if row is not None:
        case = (await s.execute(select(cases).where(cases.c.id == row.case_id))).first()
    if row is None or case is None or not _sees(principal, row, case):
        raise NotFound("no reception with this id is visible to you")
    return row, case


def _about(row: Any, case: Any) -> dict[str, Any]:
    """What every event of the bureau's reception says of it (``unit_id``: the bureau)."""
    return {
        "reception_id": row.id,
        "case_id": case.id,
        "tracking_number": case.tracking_number,
        "unit_id": row.bureau_unit_id,
        "region_code": row.region_code,
    }


def _writer(request: Request, s: AsyncSession, case_id: str) -> Writer:
    settings = request.app.state.settings
    return Writer(
        s, settings.topic("tracking"), correlation_id.get() or case_id, None, calendar_of(settings)
    )


def _actor(principal: Principal) -> str:
    return principal.unit_id or "unit" if principal.role == "unit" else principal.role


def _cst(moment: datetime) -> str:
    return f"{moment.astimezone(CST):%Y-%m-%d %H:%M} China time"


def _conflict(row: Any, text: str) -> Conflict:
    return Conflict(text, extensions={"reception_status": row.status})


async def _change(s: AsyncSession, row: Any, **values: Any) -> None:
    """The step, guarded against another one on the same reception meanwhile."""
    done = await s.execute(
        update(receptions)
        .where(receptions.c.id == row.id, receptions.c.status == row.status)
        .values(updated_at=datetime.now(UTC), **values)
    )
    if done.rowcount != 1:
        raise _conflict(row, "the reception changed meanwhile; read it again")


def _check_slots(request: Request, slots: list[datetime], minutes: int) -> list[datetime]:
    settings = request.app.state.settings
    calendar = calendar_of(settings)
    periods = rules.parse_hours(settings.reception_hours)
    now = datetime.now(UTC)
    problems = [
        (f"slots[{i}]", problem)
        for i, slot in enumerate(slots)
        if (problem := rules.slot_problem(slot, minutes, now, calendar, periods))
    ]
    if problems:  # every refused slot named at once
        refused = Invalid(*problems[0])
        refused.errors = [{"field": field, "message": message} for field, message in problems]
        raise refused
    return sorted({slot.astimezone(UTC) for slot in slots})


async def _invite(
    w: Writer, row: Any, case: Any, slots: list[datetime], minutes: int, at: datetime
) -> list[str]:
    """One invitation per unit taking part (each unit's webhooks), and the petitioner told."""
    units = rules.participants(row.bureau_unit_id, case.unit_id, case.co_unit_ids)
    for unit, role in units:
        await w.emit(
            ReceptionInvited(
                reception_id=row.id,
                case_id=case.id,
                tracking_number=case.tracking_number,
                unit_id=unit,
                role=role,
                bureau_unit_id=row.bureau_unit_id,
                slots=slots,
                duration_minutes=minutes,
                invited_at=at,
            ),
            case.id,
        )
    await _notify(
        w, case, "reception.proposed", at, slots=",".join(rules.iso(x) or "" for x in slots)
    )
    return [u for u, _ in units]


async def _notify(w: Writer, case: Any, template: str, at: datetime, **params: str) -> None:
    if case.proactive:  # a grid worker's report: no petitioner to tell
        return
    await w.emit(
        NotificationRequested(
            case_id=case.id,
            tracking_number=case.tracking_number,
            template=template,
            recipient_ref=case.owner_ref,
            params=params,
            requested_at=at,
        ),
        case.id,
    )


async def _answer(request: Request, reception_id: str, principal: Principal) -> dict[str, Any]:
    async with request.app.state.db.sessions() as s:
        row = (await s.execute(select(receptions).where(receptions.c.id == reception_id))).one()
    return view(row, _internal(principal))


@router.post(
    "/cases/{tracking_number}/receptions",
    status_code=201,
    summary="Ask for a video reception (the petitioner, the handling unit or the bureau)",
    **ONE,
)
async def request_reception(
    request: Request, tracking_number: str, body: ReceptionRequest, principal: CurrentPrincipal
) -> dict[str, Any]:
    """The petition bureau of the case's county receives; it then proposes slots. One open
    reception per case at a time; the case must be at a unit and not concluded."""
    async with request.app.state.db.transaction() as s:
        case = await _case(s, tracking_number)
        if case is None or not _sees_case(principal, case):
            raise NotFound("no case with this tracking number is visible to you")
        if not (
            rules.is_petitioner(principal, case)
            or rules.is_handler(principal, case)
            or rules.is_bureau(principal, case.region_code)
        ):
            raise Forbidden(
                "the petitioner, a clerk of the handling unit or the petition bureau asks"
            )
        if case.unit_id is None or case.status in rules.FINAL_CASE_STATUSES:
            raise Conflict(
                "the case is not at a unit, or it is concluded: no reception",
                extensions={"case_status": case.status},
            )
        now = datetime.now(UTC)
        # the case row, locked: two requests at once do not both open one
        await s.execute(update(cases).where(cases.c.id == case.id).values(updated_at=now))
        current = (
            await s.execute(
                select(receptions.c.id, receptions.c.status).where(
                    receptions.c.case_id == case.id, receptions.c.status.in_(rules.OPEN)
                )
            )
        ).first()
        if current is not None:
            raise Conflict(
                "the case has a reception under way already",
                extensions={"reception_id": current.id, "reception_status": current.status},
            )
        rid = str(uuid.uuid4())
        bureau = rules.bureau_of(case.region_code)
        units = [u for u, _ in rules.participants(bureau, case.unit_id, case.co_unit_ids)]
        await s.execute(
            receptions.insert().values(
                id=rid,
                case_id=case.id,
                tracking_number=case.tracking_number,
                region_code=case.region_code,
                bureau_unit_id=bureau,
                status="requested",
                requested_by=principal.role,
                reason=body.reason,
                duration_minutes=60,
                unit_ids=units,
                reschedules=0,
                reminders_sent=[],
                created_at=now,
                updated_at=now,
            )
        )
        w = _writer(request, s, case.id)
        await w.note(case.id, now, case.status, _actor(principal), "video reception requested")
        await w.emit(
            ReceptionRequested(
                reception_id=rid,
                case_id=case.id,
                tracking_number=case.tracking_number,
                unit_id=bureau,
                region_code=case.region_code,
                requested_by=principal.role,
                reason=body.reason,
                requested_at=now,
            ),
            case.id,
        )
    return await _answer(request, rid, principal)


def _bureau_only(principal: Principal, row: Any) -> None:
    if not rules.is_bureau(principal, row.region_code):
        raise Forbidden("only the petition bureau of the case's region does this")


@router.post(
    "/receptions/{reception_id}/slots",
    summary="Propose slots and invite the units taking part (the petition bureau)",
    **ONE,
)
async def propose_slots(
    request: Request, reception_id: str, body: SlotProposal, principal: CurrentPrincipal
) -> dict[str, Any]:
    async with request.app.state.db.transaction() as s:
        row, case = await _load(s, reception_id, principal, lock=True)
        _bureau_only(principal, row)
        if row.status not in ("requested", "proposed"):
            raise _conflict(
                row,
                f"the reception is {row.status}: slots are proposed before it is scheduled "
                "(reschedule a scheduled one)",
            )
        slots = _check_slots(request, body.slots, body.duration_minutes)
        now = datetime.now(UTC)
        w = _writer(request, s, case.id)
        units = [
            u for u, _ in rules.participants(row.bureau_unit_id, case.unit_id, case.co_unit_ids)
        ]
        await _change(
            s,
            row,
            status="proposed",
            slots=[rules.iso(x) for x in slots],
            duration_minutes=body.duration_minutes,
            unit_ids=units,
        )
        await _invite(w, row, case, slots, body.duration_minutes, now)
        await w.note(
            case.id,
            now,
            case.status,
            _actor(principal),
            "video reception: times proposed ("
            + "; ".join(_cst(x) for x in slots)
            + f", {body.duration_minutes} minutes); the petitioner chooses one",
        )
    return await _answer(request, reception_id, principal)


@router.post(
    "/receptions/{reception_id}/confirm",
    summary="Confirm one of the proposed slots (the petitioner, or a clerk for them)",
    **ONE,
)
async def confirm(
    request: Request, reception_id: str, body: Confirmation, principal: CurrentPrincipal
) -> dict[str, Any]:
    settings = request.app.state.settings
    async with request.app.state.db.transaction() as s:
        row, case = await _load(s, reception_id, principal, lock=True)
        if not (
            rules.is_petitioner(principal, case)
            or rules.is_handler(principal, case)
            or rules.is_bureau(principal, row.region_code)
        ):
            raise Forbidden("the petitioner confirms, or a clerk or the bureau for them")
        if row.status != "proposed":
            raise _conflict(row, f"the reception is {row.status}: no slots to choose from")
        if body.starts_at.tzinfo is None:
            raise Invalid("starts_at", "give a time zone (…Z or +08:00)")
        chosen = body.starts_at.astimezone(UTC)
        offered = [datetime.fromisoformat(x) for x in row.slots or []]
        if chosen not in offered:
            raise Invalid("starts_at", "is not one of the proposed slots", slots=row.slots)
        now = datetime.now(UTC)
        if chosen <= now:
            raise Invalid("starts_at", "has passed; ask the bureau for new slots")
        ends = chosen + timedelta(minutes=row.duration_minutes)
        url = rules.meeting_url(settings.reception_meeting_url, row.id)
        await _change(
            s,
            row,
            status="scheduled",
            starts_at=chosen,
            ends_at=ends,
            meeting_url=url,
            reminders_sent=[],
        )
        w = _writer(request, s, case.id)
        await w.note(
            case.id,
            now,
            case.status,
            _actor(principal),
            f"video reception scheduled for {_cst(chosen)} ({row.duration_minutes} minutes)",
        )
        await w.emit(
            ReceptionScheduled(
                **_about(row, case),
                unit_ids=list(row.unit_ids or []),
                starts_at=chosen,
                ends_at=ends,
                meeting_url=url,
                reschedules=row.reschedules,
                scheduled_at=now,
            ),
            case.id,
        )
    return await _answer(request, reception_id, principal)


@router.post(
    "/receptions/{reception_id}/reschedule",
    summary="Reschedule before the start: the bureau with new slots, the petitioner without",
    **ONE,
)
async def reschedule(
    request: Request, reception_id: str, body: Reschedule, principal: CurrentPrincipal
) -> dict[str, Any]:
    async with request.app.state.db.transaction() as s:
        row, case = await _load(s, reception_id, principal, lock=True)
        bureau = rules.is_bureau(principal, row.region_code)
        if not bureau and not rules.is_petitioner(principal, case):
            raise Forbidden("the petition bureau or the petitioner reschedules")
        if row.status not in rules.OPEN:
            raise _conflict(row, f"the reception is {row.status}: nothing to reschedule")
        now = datetime.now(UTC)
        if row.status == "scheduled" and row.starts_at <= now:
            raise _conflict(row, "the reception has started: record it, or cancel it")
        cleared: dict[str, Any] = {
            "starts_at": None,
            "ends_at": None,
            "meeting_url": None,
            "reminders_sent": [],
            "reschedules": row.reschedules + 1,
        }
        w = _writer(request, s, case.id)
        if bureau:
            if not body.slots:
                raise Invalid("slots", "the bureau proposes new slots when it reschedules")
            minutes = body.duration_minutes or row.duration_minutes
            slots = _check_slots(request, body.slots, minutes)
            units = [
                u for u, _ in rules.participants(row.bureau_unit_id, case.unit_id, case.co_unit_ids)
            ]
            await _change(
                s,
                row,
                status="proposed",
                slots=[rules.iso(x) for x in slots],
                duration_minutes=minutes,
                unit_ids=units,
                **cleared,
            )
            await _invite(w, row, case, slots, minutes, now)
            text = (
                f"video reception rescheduled by the petition bureau ({body.reason}); new times "
                "proposed: " + "; ".join(_cst(x) for x in slots)
            )
        else:
            if body.slots or body.duration_minutes:
                field = "slots" if body.slots else "duration_minutes"
                raise Invalid(field, "the petition bureau proposes the new slots")
            await _change(s, row, status="requested", slots=None, **cleared)
            await w.emit(
                ReceptionRequested(
                    **_about(row, case),
                    requested_by="petitioner",
                    reason=body.reason,
                    requested_at=now,
                ),
                case.id,
            )
            text = (
                f"the petitioner asked to reschedule the video reception ({body.reason}); the "
                "petition bureau proposes new times"
            )
        await w.note(case.id, now, case.status, _actor(principal), text)
    return await _answer(request, reception_id, principal)


@router.post(
    "/receptions/{reception_id}/cancel",
    summary="Cancel before it was held (the petition bureau or the petitioner)",
    **ONE,
)
async def cancel(
    request: Request, reception_id: str, body: Cancellation, principal: CurrentPrincipal
) -> dict[str, Any]:
    async with request.app.state.db.transaction() as s:
        row, case = await _load(s, reception_id, principal, lock=True)
        if not (
            rules.is_bureau(principal, row.region_code) or rules.is_petitioner(principal, case)
        ):
            raise Forbidden("the petition bureau or the petitioner cancels")
        if row.status not in rules.OPEN:
            raise _conflict(row, f"the reception is {row.status} already")
        now = datetime.now(UTC)
        await _change(s, row, status="cancelled", cancel_reason=body.reason)
        w = _writer(request, s, case.id)
        who = "the petitioner" if principal.role == "petitioner" else "the petition bureau"
        await w.note(
            case.id,
            now,
            case.status,
            _actor(principal),
            f"video reception cancelled by {who}: {body.reason}",
        )
        await w.emit(
            ReceptionCancelled(
                **_about(row, case),
                unit_ids=list(row.unit_ids or []),
                reason=body.reason,
                cancelled_by=principal.role,
                cancelled_at=now,
            ),
            case.id,
        )
        if principal.role != "petitioner":
            await _notify(w, case, "reception.cancelled", now, reason=body.reason[:500])
    return await _answer(request, reception_id, principal)


@router.post(
    "/receptions/{reception_id}/record",
    summary="Record the outcome once the start has passed (the petition bureau)",
    **ONE,
)
async def record(
    request: Request, reception_id: str, body: Record, principal: CurrentPrincipal
) -> dict[str, Any]:
    """``held``: minutes (internal) and a summary (public) are required; ``no_show``: the
    petitioner did not come. The agreed actions go to the internal timeline and the event."""
    async with request.app.state.db.transaction() as s:
        row, case = await _load(s, reception_id, principal, lock=True)
        _bureau_only(principal, row)
        if row.status != "scheduled":
            raise _conflict(row, f"the reception is {row.status}: only a scheduled one is recorded")
        now = datetime.now(UTC)
        if row.starts_at > now:
            raise Conflict(
                f"the reception starts at {_cst(row.starts_at)}: record it afterwards",
                extensions={"reception_status": row.status, "starts_at": rules.iso(row.starts_at)},
            )
        if body.outcome == "held":
            for field in ("minutes", "summary"):
                if not getattr(body, field):
                    raise Invalid(field, "required when the reception was held")
        actions = [a.model_dump(mode="json") for a in body.actions]
        await _change(
            s,
            row,
            status=body.outcome,
            attendees=[a.model_dump(mode="json") for a in body.attendees],
            minutes=body.minutes,
            summary=body.summary,
            actions=actions,
        )
        w = _writer(request, s, case.id)
        actor = _actor(principal)
        if body.outcome == "held":
            public = f"video reception held on {_cst(row.starts_at)}: {body.summary}"
        else:
            public = "the petitioner did not attend the video reception"
        await w.note(case.id, now, case.status, actor, public)
        internal = [f"video reception minutes: {body.minutes}"] if body.minutes else []
        internal += [
            f"agreed action: {a['text']}"
            + (f" ({a['unit_id']})" if a["unit_id"] else "")
            + (f", by {a['due']}" if a["due"] else "")
            for a in actions
        ]
        for text in internal:
            await w.note(case.id, now, case.status, actor, text, public=False)
        await w.emit(
            ReceptionHeld(
                **_about(row, case),
                unit_ids=list(row.unit_ids or []),
                outcome=body.outcome,
                starts_at=row.starts_at,
                attendees=len(body.attendees),
                summary=body.summary,
                actions=[a["text"] for a in actions],
                recorded_at=now,
            ),
            case.id,
        )
    return await _answer(request, reception_id, principal)
