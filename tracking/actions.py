"""What units and petitioners do to a case: ``POST /api/v1/cases/{tracking_number}/{action}``.

The transition table is :mod:`tracking.machine`; this module checks who the caller is to the
case, the clocks (PROCEDURE §5), and writes the step: the status, the timeline, the clocks,
the events. Agency systems that record a step late may give ``effective_at``: not in the
future, not before the case's previous step; clocks are judged by that moment.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select, update

from shared import tracking_number as numbers
from shared.auth import CurrentPrincipal, Principal
from shared.contracts import (
    CaseAccepted,
    CaseExtended,
    CaseObjected,
    CaseReplied,
    ReviewDecided,
    ReviewRequested,
)
from shared.errors import Conflict, Invalid, NotFound
from shared.logging import correlation_id
from tracking import machine
from tracking.clocks import calendar_of
from tracking.models import cases, clocks, reviews, timeline
from tracking.store import THEME_CLOCK, Writer, cst_date
from tracking.views import actors, case_view, may_see, ruled_out

router = APIRouter(prefix="/api/v1", tags=["case actions"])

# A little clock skew between an agency system and us is not "the future"
SKEW = timedelta(minutes=2)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _UnitStep(_Body):
    effective_at: datetime | None = Field(
        None,
        description="when the step really happened, for steps recorded late by an agency "
        "system: not in the future, not before the case's previous step",
    )


class Objection(_UnitStep):
    reason: str = Field(
        min_length=4,
        max_length=500,
        description="why the matter is outside your unit's remit (shown to the router and the "
        "units concerned, not to the petitioner)",
    )


class Acceptance(_UnitStep):
    simplified: bool = Field(
        False,
        description="简易办理: clear facts, clear responsibility, little dispute; accept within "
        "3 working days of receipt, reply within 10 working days",
    )


class NonAcceptance(_UnitStep):
    reason: str = Field(min_length=4, max_length=1000, description="told to the petitioner")


class Extension(_UnitStep):
    days: int = Field(ge=1, le=365, description="at most 30 (XINFANG_EXTENSION_MAX_DAYS)")
    reason: str = Field(min_length=4, max_length=500, description="shown to the petitioner")
    approved_by: str = Field(min_length=2, max_length=60, description="the unit head's name")


class Attachment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    content_type: str = Field(min_length=3, max_length=100)
    size: int = Field(ge=0, le=1_000_000_000)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    url: str = Field(min_length=8, max_length=2000)


class Reply(_UnitStep):
    outcome: Literal["support", "explain", "reject"]
    text: str = Field(min_length=10, max_length=20000)
    attachments: list[Attachment] = Field(default_factory=list, max_length=20)


class Report(_UnitStep):
    text: str = Field(min_length=4, max_length=5000)


class Withdrawal(_Body):
    reason: str | None = Field(None, max_length=500)


class ReviewRequest(_Body):
    reason: str = Field(min_length=4, max_length=2000, description="what is wrong with the answer")


class ReviewDecision(_UnitStep):
    decision: Literal["maintain", "change", "rehandle"]
    text: str = Field(min_length=10, max_length=20000)


class Step:
    """One action on one case, in one transaction: the case row read for update, the caller's
    relations checked against the table, the moment it counts from."""

    def __init__(self, request: Request, principal: Principal, session: Any, case: Any) -> None:
        state = request.app.state
        self.settings = state.settings
        self.calendar = calendar_of(self.settings)
        self.principal, self.case, self.session = principal, case, session
        self.w = Writer(
            session,
            self.settings.topic("tracking"),
            correlation_id.get() or case.id,
            None,
            self.calendar,
        )
        self.actor = principal.unit_id if principal.role == "unit" else principal.role

    async def at(self, effective_at: datetime | None) -> datetime:
        now = datetime.now(UTC)
        if effective_at is None:
            return now
        if effective_at.tzinfo is None:
            raise Invalid("effective_at", "give a time zone (…Z or +08:00)")
        if effective_at > now + SKEW:
            raise Invalid("effective_at", "must not be in the future")
        previous = (
            await self.session.execute(
                select(func.max(timeline.c.at)).where(timeline.c.case_id == self.case.id)
            )
        ).scalar()
        if previous is not None and effective_at < previous:
            raise Invalid(
                "effective_at",
                f"must not be before the case's previous step ({previous.isoformat()})",
            )
        return effective_at

    async def move(self, target: str, at: datetime, text: str, **values: object) -> None:
        """The status change, guarded against a concurrent step on the same case."""
        done = await self.session.execute(
            update(cases)
            .where(cases.c.id == self.case.id, cases.c.status == self.case.status)
            .values(status=self.case.status)
        )
        if done.rowcount != 1:
            raise Conflict("the case changed meanwhile; read it again")
        await self.w.transition(
            self.case.id,
            self.case.tracking_number,
            self.case.status,
            target,
            at,
            self.actor or "system",
            text,
            **values,
        )

    async def due_of(self, kind: str) -> Any:
        return (
            await self.session.execute(
                select(clocks)
                .where(clocks.c.case_id == self.case.id, clocks.c.kind == kind)
                .order_by(clocks.c.id.desc())
                .limit(1)
            )
        ).first()


async def _case(request: Request, tracking_number: str, principal: Principal, s: Any) -> Any:
    number = numbers.normalize(tracking_number)
    case = (await s.execute(select(cases).where(cases.c.tracking_number == number))).first()
    if case is None or not may_see(principal, case):
        raise NotFound("no case with this tracking number is visible to you")
    return case


async def _act(
    request: Request,
    tracking_number: str,
    principal: Principal,
    action: str,
    step_fn: Any,
) -> dict[str, Any]:
    db = request.app.state.db
    late: Conflict | None = None
    async with db.transaction() as s:
        case = await _case(request, tracking_number, principal, s)
        out = ruled_out(case, cst_date(datetime.now(UTC))) - {action}
        spec = machine.check(action, case.status, actors(principal, case), out)
        step = Step(request, principal, s, case)
        late = await step_fn(step, spec)
    if late is not None:  # registered (the timeline says so), and refused
        raise late
    async with db.sessions() as s:
        fresh = (await s.execute(select(cases).where(cases.c.id == case.id))).first()
    return await case_view(
        request, fresh, internal=principal.role != "petitioner", principal=principal
    )


@router.post(
    "/cases/{tracking_number}/object",
    status_code=202,
    summary="Object to jurisdiction (the handling unit, within 5 working days; Art. 23)",
)
async def object_to_jurisdiction(
    request: Request, tracking_number: str, body: Objection, principal: CurrentPrincipal
) -> dict[str, Any]:
    """The case goes back to routing, which moves it to the competent unit (never one that has
    objected already) or, after the transfer cap, to the petition bureau. Answers 202 with the
    case, now ``received`` again until routing has moved it."""

    async def step(st: Step, spec: machine.Action) -> None:
        case = st.case
        if not case.objection_allowed:
            raise Conflict(
                "the petition bureau named your unit after the case had been moved "
                f"{case.transfers} times: that choice is final (anti 踢皮球)",
                extensions={"case_status": case.status, "allowed_actions": []},
            )
        at = await st.at(body.effective_at)
        if case.objection_due is None or cst_date(at) > case.objection_due:
            due = case.objection_due.isoformat() if case.objection_due else "-"
            raise Conflict(
                f"the objection window closed on {due} (5 working days from receipt, "
                "Art. 23); accept the case, or ask the petition bureau to move it",
                extensions={"case_status": case.status, "objection_due": due},
            )
        await st.w.stop_clock(case.id, "objection", at)
        await st.w.stop_clock(case.id, "acceptance", at, met=None)
        await st.move(
            spec.target or case.status,
            at,
            "returned by the unit as outside its remit; it is being routed again",
            objection_due=None,
        )
        await st.w.note(case.id, at, "received", st.actor, body.reason, public=False)
        await st.w.emit(
            CaseObjected(
                case_id=case.id,
                tracking_number=case.tracking_number,
                unit_id=case.unit_id,
                revision=case.routing_revision,
                reason=body.reason,
                objected_at=at,
            ),
            case.id,
        )

    return await _act(request, tracking_number, principal, "object", step)


@router.post(
    "/cases/{tracking_number}/accept",
    summary="Accept the case (受理), general or simplified track (the handling unit)",
)
async def accept(
    request: Request, tracking_number: str, body: Acceptance, principal: CurrentPrincipal
) -> dict[str, Any]:
    async def step(st: Step, spec: machine.Action) -> None:
        case, settings = st.case, st.settings
        at = await st.at(body.effective_at)
        day = cst_date(at)
        if body.simplified:
            latest = st.calendar.due(
                case.routed_at, settings.simplified_accept_working_days, "working"
            )
            if day > latest.date:
                raise Conflict(
                    f"the simplified track must be accepted within "
                    f"{settings.simplified_accept_working_days} working days of receipt "
                    f"(by {latest.date.isoformat()}); accept on the general track",
                    extensions={"case_status": case.status},
                )
            reply_due = await st.w.start_clock(
                case.id,
                "handling",
                at,
                settings.simplified_reply_working_days,
                unit="working",
                basis="simplified handling: reply within 10 working days of acceptance",
                unit_id=case.unit_id,
            )
        else:
            reply_due = await st.w.start_clock(
                case.id,
                "handling",
                at,
                settings.handling_days,
                basis="handling and written reply: 60 days from acceptance (Art. 34)",
                unit_id=case.unit_id,
            )
        await st.w.stop_clock(case.id, "acceptance", at)
        await st.w.stop_clock(case.id, "objection", at, met=None)
        track = "simplified" if body.simplified else "general"
        await st.move(
            spec.target or case.status,
            at,
            f"accepted ({track} track); the written reply is due by {reply_due.isoformat()}",
            track=track,
            accepted_at=at,
            reply_due=reply_due,
            objection_due=None,
        )
        await st.w.emit(
            CaseAccepted(
                case_id=case.id,
                tracking_number=case.tracking_number,
                unit_id=case.unit_id,
                track=track,
                accepted_at=at,
                acceptance_due=case.acceptance_due,
                reply_due=reply_due,
            ),
            case.id,
        )

    return await _act(request, tracking_number, principal, "accept", step)


@router.post(
    "/cases/{tracking_number}/not-accept",
    summary="Not accepted: not a petition matter or outside every unit's remit, with the reason",
)
async def not_accept(
    request: Request, tracking_number: str, body: NonAcceptance, principal: CurrentPrincipal
) -> dict[str, Any]:
    async def step(st: Step, spec: machine.Action) -> None:
        at = await st.at(body.effective_at)
        await st.w.stop_clock(st.case.id, "acceptance", at)
        await st.w.stop_all_clocks(st.case.id, at)
        await st.move(
            spec.target or st.case.status, at, f"not accepted: {body.reason}", objection_due=None
        )

    return await _act(request, tracking_number, principal, "not-accept", step)


@router.post(
    "/cases/{tracking_number}/extend",
    summary="Extend the reply deadline once (at most 30 days; the unit head approves)",
)
async def extend(
    request: Request, tracking_number: str, body: Extension, principal: CurrentPrincipal
) -> dict[str, Any]:
    async def step(st: Step, spec: machine.Action) -> None:
        case, settings = st.case, st.settings
        if body.days > settings.extension_max_days:
            raise Invalid("days", f"at most {settings.extension_max_days} days (Art. 34)")
        if case.track == "simplified":
            raise Conflict(
                "a simplified case is not extended; reply within its 10 working days",
                extensions={"case_status": case.status},
            )
        at = await st.at(body.effective_at)
        # The extended deadline is acceptance + (60 + extension) days, then moved to a working
        # day: not the old deadline plus the extension (PROCEDURE §5)
        reply_due = await st.w.start_clock(
            case.id,
            "handling",
            case.accepted_at,
            settings.handling_days + body.days,
            basis=f"handling: 60 days from acceptance, extended by {body.days} (Art. 34)",
            unit_id=case.unit_id,
        )
        await st.move(
            spec.target or case.status,
            at,
            f"reply deadline extended by {body.days} days to {reply_due.isoformat()}: "
            f"{body.reason}",
            reply_due=reply_due,
            extension_days=body.days,
            extension_reason=body.reason,
            extension_approved_by=body.approved_by,
        )
        await st.w.note(
            case.id, at, "extended", st.actor, f"approved by {body.approved_by}", public=False
        )
        await st.w.emit(
            CaseExtended(
                case_id=case.id,
                tracking_number=case.tracking_number,
                unit_id=case.unit_id,
                days=body.days,
                reason=body.reason,
                extended_at=at,
                reply_due=reply_due,
            ),
            case.id,
        )

    return await _act(request, tracking_number, principal, "extend", step)


@router.post(
    "/cases/{tracking_number}/reply", summary="The written reply (support, explain or reject)"
)
async def reply(
    request: Request, tracking_number: str, body: Reply, principal: CurrentPrincipal
) -> dict[str, Any]:
    async def step(st: Step, spec: machine.Action) -> None:
        case, settings = st.case, st.settings
        at = await st.at(body.effective_at)
        await st.w.stop_clock(case.id, "handling", at)
        request_due = await st.w.start_clock(
            case.id,
            "review_request",
            at,
            settings.review_request_days,
            basis="review request: within 30 days of receiving the reply (Art. 35)",
        )
        chain = list(case.review_chain or [])
        await st.move(
            spec.target or case.status,
            at,
            f"replied ({body.outcome}); a review may be requested until {request_due.isoformat()}",
            reply_outcome=body.outcome,
            reply_text=body.text,
            reply_attachments=[a.model_dump() for a in body.attachments],
            replied_at=at,
        )
        await st.w.emit(
            CaseReplied(
                case_id=case.id,
                tracking_number=case.tracking_number,
                unit_id=case.unit_id,
                outcome=body.outcome,
                replied_at=at,
                accepted_at=case.accepted_at,
                reply_due=case.reply_due,
                review_request_due=request_due,
                review_unit_id=chain[0] if chain else None,
            ),
            case.id,
        )

    return await _act(request, tracking_number, principal, "reply", step)


@router.post(
    "/cases/{tracking_number}/report",
    summary="Report back on an assigned case (交办) to the assigning bureau",
)
async def report(
    request: Request, tracking_number: str, body: Report, principal: CurrentPrincipal
) -> dict[str, Any]:
    async def step(st: Step, spec: machine.Action) -> None:
        case = st.case
        if case.report_due is None:
            raise Conflict(
                "the case was forwarded, not assigned with a report date: nothing to report",
                extensions={"case_status": case.status},
            )
        if case.reported_at is not None:
            raise Conflict("reported already", extensions={"case_status": case.status})
        at = await st.at(body.effective_at)
        await st.w.stop_clock(case.id, "report", at)
        await st.session.execute(update(cases).where(cases.c.id == case.id).values(reported_at=at))
        await st.w.note(case.id, at, case.status, st.actor, f"report-back: {body.text}", False)

    return await _act(request, tracking_number, principal, "report", step)


@router.post("/cases/{tracking_number}/withdraw", summary="The petitioner withdraws the petition")
async def withdraw(
    request: Request, tracking_number: str, body: Withdrawal, principal: CurrentPrincipal
) -> dict[str, Any]:
    async def step(st: Step, spec: machine.Action) -> None:
        at = datetime.now(UTC)
        # not the unit's response: the channel's response clock just no longer applies
        await st.w.stop_precise_clock(st.case.id, THEME_CLOCK, at, judged=False)
        await st.w.stop_all_clocks(st.case.id, at)
        text = "withdrawn by the petitioner" + (f": {body.reason}" if body.reason else "")
        st.actor = "petitioner"
        await st.move(spec.target or st.case.status, at, text, objection_due=None)

    return await _act(request, tracking_number, principal, "withdraw", step)


async def _request_review(
    request: Request,
    tracking_number: str,
    body: ReviewRequest,
    principal: Principal,
    stage: Literal["review", "rereview"],
) -> dict[str, Any]:
    action = "review-requests" if stage == "review" else "rereview-requests"
    window = "review_request" if stage == "review" else "rereview_request"
    law = "Art. 35" if stage == "review" else "Art. 36"

    async def step(st: Step, spec: machine.Action) -> Conflict | None:
        case, settings = st.case, st.settings
        st.actor = "petitioner"
        chain = list(case.review_chain or [])
        index = 0 if stage == "review" else 1
        if len(chain) <= index:
            raise Conflict(
                f"there is no unit above to {stage.replace('re', 're-', 1)} this answer; "
                "it is final",
                extensions={"case_status": case.status},
            )
        at = datetime.now(UTC)
        clock = await st.due_of(window)
        if clock is not None and cst_date(at) > clock.due:
            text = (
                f"{stage} request received after the deadline {clock.due.isoformat()}: "
                f"registered and rejected as late ({law})"
            )
            await st.w.note(case.id, at, case.status, "petitioner", text)
            return Conflict(text, extensions={"case_status": case.status, "due": str(clock.due)})
        unit_id = chain[index]
        await st.w.stop_clock(case.id, window, at)
        decision_due = await st.w.start_clock(
            case.id,
            stage,
            at,
            settings.review_decision_days,
            basis=f"{stage} decision: 30 days from the request ({law})",
            unit_id=unit_id,
        )
        await st.session.execute(
            reviews.insert().values(
                id=str(uuid.uuid4()),
                case_id=case.id,
                stage=stage,
                unit_id=unit_id,
                requested_at=at,
                reason=body.reason,
                decision_due=decision_due,
            )
        )
        await st.move(
            spec.target or case.status,
            at,
            f"{stage} requested; {unit_id} decides by {decision_due.isoformat()}",
        )
        await st.w.note(case.id, at, spec.target or case.status, "petitioner", body.reason, False)
        await st.w.emit(
            ReviewRequested(
                case_id=case.id,
                tracking_number=case.tracking_number,
                stage=stage,
                unit_id=unit_id,
                requested_at=at,
                decision_due=decision_due,
            ),
            case.id,
        )
        return None

    return await _act(request, tracking_number, principal, action, step)


async def _decide_review(
    request: Request,
    tracking_number: str,
    body: ReviewDecision,
    principal: Principal,
    stage: Literal["review", "rereview"],
) -> dict[str, Any]:
    action = "review-decision" if stage == "review" else "rereview-decision"

    async def step(st: Step, spec: machine.Action) -> None:
        case, settings = st.case, st.settings
        at = await st.at(body.effective_at)
        await st.w.stop_clock(case.id, stage, at)
        request_due = None
        if stage == "review":
            request_due = await st.w.start_clock(
                case.id,
                "rereview_request",
                at,
                settings.review_request_days,
                basis="re-review request: within 30 days of the review decision (Art. 36)",
            )
        await st.session.execute(
            update(reviews)
            .where(reviews.c.case_id == case.id, reviews.c.stage == stage)
            .values(decision=body.decision, text=body.text, decided_at=at)
        )
        row = (
            await st.session.execute(
                select(reviews.c.decision_due).where(
                    reviews.c.case_id == case.id, reviews.c.stage == stage
                )
            )
        ).first()
        text = f"{stage} decision: {body.decision}"
        if request_due:
            text += f"; a re-review may be requested until {request_due.isoformat()}"
        else:
            text += "; the matter is concluded (终结)"
        await st.move(spec.target or case.status, at, text)
        await st.w.emit(
            ReviewDecided(
                case_id=case.id,
                tracking_number=case.tracking_number,
                stage=stage,
                unit_id=principal.unit_id or "",
                decision=body.decision,
                decided_at=at,
                decision_due=row.decision_due if row else None,
                request_due=request_due,
            ),
            case.id,
        )

    return await _act(request, tracking_number, principal, action, step)


@router.post(
    "/cases/{tracking_number}/review-requests",
    status_code=201,
    summary="Ask the unit one level up to review the reply (复查, within 30 days)",
)
async def request_review(
    request: Request, tracking_number: str, body: ReviewRequest, principal: CurrentPrincipal
) -> dict[str, Any]:
    return await _request_review(request, tracking_number, body, principal, "review")


@router.post(
    "/cases/{tracking_number}/review-decision",
    summary="The review decision (the reviewing unit): maintain, change or order re-handling",
)
async def decide_review(
    request: Request, tracking_number: str, body: ReviewDecision, principal: CurrentPrincipal
) -> dict[str, Any]:
    return await _decide_review(request, tracking_number, body, principal, "review")


@router.post(
    "/cases/{tracking_number}/rereview-requests",
    status_code=201,
    summary="Ask for a re-review one more level up (复核, within 30 days of the review)",
)
async def request_rereview(
    request: Request, tracking_number: str, body: ReviewRequest, principal: CurrentPrincipal
) -> dict[str, Any]:
    return await _request_review(request, tracking_number, body, principal, "rereview")


@router.post(
    "/cases/{tracking_number}/rereview-decision",
    summary="The re-review decision (the re-reviewing unit); the case is then terminated",
)
async def decide_rereview(
    request: Request, tracking_number: str, body: ReviewDecision, principal: CurrentPrincipal
) -> dict[str, Any]:
    return await _decide_review(request, tracking_number, body, principal, "rereview")
