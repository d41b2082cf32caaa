"""Who may see a case, and the case as each reader sees it (ARCHITECTURE §4, PROCEDURE §6, §9).

The petitioner (owner token or query code) gets the public timeline and the deadlines that
concern them; units and operators also get internal notes, routing explanations, every clock,
supervision and the actions open to them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import Request
from sqlalchemy import select

from shared import tracking_number as numbers
from shared.auth import Principal
from shared.regions import within
from tracking import machine
from tracking.models import clocks, reviews, supervisions, timeline
from tracking.store import THEME_CLOCK, cst_date

# The statuses in which a reviewing (re-reviewing) unit sees the case it reviews
REVIEW_STATUSES = ("under_review", "review_replied", "under_rereview", "terminated")
REREVIEW_STATUSES = ("under_rereview", "terminated")
# Deadlines the petitioner is shown; units and operators see every clock
PUBLIC_CLOCKS = (
    "acceptance",
    "handling",
    "review_request",
    "review",
    "rereview_request",
    "rereview",
)


# Clocks of the handling unit: after a move, only the current unit's are deadlines
UNIT_CLOCKS = ("acceptance", "objection", "handling", "report")


def may_see(principal: Principal, case: Any) -> bool:
    """A petitioner their own cases; a unit the cases routed to it (lead or co-handler) and the
    ones it reviews; operators within their region. An accused unit is never any of these."""
    if principal.role in ("operator", "service"):
        return within(case.region_code, principal.region_code)
    if principal.role == "petitioner":
        return case.owner_ref is not None and case.owner_ref == principal.sub
    if principal.role == "grid_worker":  # the grid worker who reported it on rounds
        return is_reporter(principal, case)
    if principal.role == "unit" and principal.unit_id:
        me = principal.unit_id
        chain = list(case.review_chain or [])
        return (
            me == case.unit_id
            or me in (case.co_unit_ids or [])
            or (bool(chain) and me == chain[0] and case.status in REVIEW_STATUSES)
            or (len(chain) > 1 and me == chain[1] and case.status in REREVIEW_STATUSES)
        )
    return False


def is_reporter(principal: Principal | None, case: Any) -> bool:
    return (
        principal is not None
        and principal.role == "grid_worker"
        and bool(case.proactive)
        and case.owner_ref is not None
        and case.owner_ref == principal.sub
    )


def is_owner(principal: Principal | None, case: Any) -> bool:
    """The petitioner who filed it, or the grid worker who reported a proactive case."""
    if principal is None or case.owner_ref is None or case.owner_ref != principal.sub:
        return False
    return principal.role == "petitioner" or is_reporter(principal, case)


def theme_view(case: Any, clock: Any) -> dict[str, Any] | None:
    """A themed channel's code, priority and target response time, with the response clock:
    when the first response is due and whether it came in time (None while it runs)."""
    if not case.theme and not case.target_response_hours:
        return None
    return {
        "code": case.theme,
        "priority": case.priority or 0,
        "target_response_hours": case.target_response_hours,
        "response_due_at": clock.due_at.isoformat() if clock and clock.due_at else None,
        "response_met": clock.met if clock is not None and clock.stopped_at else None,
    }


def actors(principal: Principal, case: Any) -> set[str]:
    """The caller's relations to the case (tracking.machine)."""
    mine: set[str] = set()
    chain = list(case.review_chain or [])
    if principal.role == "unit" and principal.unit_id:
        if principal.unit_id == case.unit_id:
            mine.add(machine.HANDLER)
        if chain and principal.unit_id == chain[0]:
            mine.add(machine.REVIEWER)
        if len(chain) > 1 and principal.unit_id == chain[1]:
            mine.add(machine.REREVIEWER)
    if principal.role == "petitioner" and case.owner_ref and principal.sub == case.owner_ref:
        mine.add(machine.PETITIONER)
    if principal.role == "operator":
        mine.add(machine.OPERATOR)
    return mine


def shows_reporter(principal: Principal | None, case: Any) -> bool:
    """An accusation's reporter is hidden from everyone but the reporter and the discipline
    organ handling it (Art. 30, 46); other petitions show the masked name to their readers."""
    if case.anonymous:
        return False
    if case.kind != "accusation" or principal is None or principal.role == "petitioner":
        return True
    return principal.role == "unit" and (principal.unit_id or "").endswith(":discipline")


def open_actions(principal: Principal, case: Any, today: Any) -> list[str]:
    """The table's actions for this caller, less those the case's own facts rule out now."""
    out = ruled_out(case, today)
    return [a for a in machine.allowed(case.status, actors(principal, case)) if a not in out]


def ruled_out(case: Any, today: Any) -> set[str]:
    """Actions the table allows in this status that this case's facts exclude today."""
    ruled_out = set()
    if not case.objection_allowed or case.objection_due is None or today > case.objection_due:
        ruled_out.add("object")
    if case.report_due is None or case.reported_at is not None:
        ruled_out.add("report")
    if case.track == "simplified":
        ruled_out.add("extend")
    chain = list(case.review_chain or [])
    if not chain:
        ruled_out.add("review-requests")
    if len(chain) < 2:
        ruled_out.add("rereview-requests")
    return ruled_out


def clock_view(row: Any, today: Any) -> dict[str, Any]:
    """A deadline as shown: running (on time, due soon, overdue: judged today, whatever the
    scheduler has noticed yet) or done (in time or late)."""
    out: dict[str, Any] = {
        "due": row.due.isoformat(),
        "basis": row.basis,
        "unit_id": row.unit_id,
    }
    if row.stopped_at is None:
        state = (
            "overdue" if today > row.due else "due_soon" if today >= row.due_soon_on else "on_time"
        )
        out["state"] = state
    else:
        out["state"] = "met" if row.met else "missed"
        out["done_on"] = cst_date(row.stopped_at).isoformat()
    if row.provisional:
        out["provisional"] = True
        out["note"] = "counted Monday to Friday: no official calendar for that year yet"
    return out


async def case_view(
    request: Request, case: Any, *, internal: bool, principal: Principal | None = None
) -> dict[str, Any]:
    async with request.app.state.db.sessions() as s:
        q = select(timeline).where(timeline.c.case_id == case.id).order_by(timeline.c.id)
        if not internal:
            q = q.where(timeline.c.public.is_(True))
        entries = (await s.execute(q)).all()
        rows = (
            await s.execute(select(clocks).where(clocks.c.case_id == case.id).order_by(clocks.c.id))
        ).all()
        review_rows = (
            await s.execute(
                select(reviews).where(reviews.c.case_id == case.id).order_by(reviews.c.requested_at)
            )
        ).all()
        supervision_rows = (
            (
                await s.execute(
                    select(supervisions)
                    .where(supervisions.c.case_id == case.id)
                    .order_by(supervisions.c.opened_at)
                )
            ).all()
            if internal
            else []
        )
    today = cst_date(datetime.now(UTC))
    latest: dict[str, Any] = {}
    for row in rows:  # the latest clock of each kind; one that no longer applies is not shown
        if row.kind in UNIT_CLOCKS and (
            row.unit_id != case.unit_id
            or (row.stopped_at is not None and case.routed_at and row.stopped_at < case.routed_at)
        ):
            continue  # a clock of an earlier routing of the case: history, not a deadline
        latest[row.kind] = row
    theme_clock = latest.pop(THEME_CLOCK, None)  # shown under "theme"
    deadlines = {
        kind: clock_view(row, today)
        for kind, row in latest.items()
        if (row.stopped_at is None or row.met is not None) and (internal or kind in PUBLIC_CLOCKS)
    }
    view: dict[str, Any] = {
        "case_id": case.id,
        "tracking_number": case.tracking_number,
        "tracking_number_display": numbers.display(case.tracking_number),
        "status": case.status,
        "kind": case.kind,
        "channel": case.channel,
        "title": case.title,
        "category": case.category,
        "region_code": case.region_code,
        "petitioner_name": case.petitioner_masked_name if shows_reporter(principal, case) else None,
        "unit": {"id": case.unit_id} if case.unit_id else None,
        "received_at": case.received_at.isoformat(),
        "track": case.track,
        "deadlines": deadlines,
        "timeline": [
            {
                "at": e.at.isoformat(),
                "status": e.status,
                "note": e.note,
                **({"actor": e.actor, "public": e.public} if internal else {}),
            }
            for e in entries
        ],
        "legal_channel": {"code": case.legal_channel, "name": case.legal_channel_name}
        if case.legal_channel
        else None,
        "linked_to": case.repeat_of_tracking_number,
        "extension": {
            "days": case.extension_days,
            "reason": case.extension_reason,
        }
        if case.extension_days
        else None,
        "reply": {
            "outcome": case.reply_outcome,
            "text": case.reply_text,
            "attachments": case.reply_attachments or [],
            "replied_at": case.replied_at.isoformat(),
            "unit_id": case.unit_id,
        }
        if case.replied_at
        else None,
        "reviews": [
            {
                "stage": r.stage,
                "unit_id": r.unit_id,
                "requested_at": r.requested_at.isoformat(),
                "decision_due": r.decision_due.isoformat(),
                "decision": r.decision,
                "text": r.text,
                "decided_at": r.decided_at.isoformat() if r.decided_at else None,
            }
            for r in review_rows
        ],
        "theme": theme_view(case, theme_clock),
        "proactive": bool(case.proactive),
        "representatives": case.representatives or 0,
        # the channel's form fields: for the units, operators and whoever wrote them, not for
        # a query-code reader
        "theme_fields": (case.theme_fields or {})
        if internal or is_owner(principal, case)
        else None,
        "allowed_actions": open_actions(principal, case, today) if principal else [],
        "rating": None,
    }
    if internal:
        view.update(
            collective_id=case.collective_id,
            category_source=case.category_source,
            transfers=case.transfers,
            objection_allowed=bool(case.objection_allowed) and case.status == "routed",
            co_unit_ids=case.co_unit_ids or [],
            review_chain=case.review_chain or [],
            leader={"name": case.leader_name, "title": case.leader_title}
            if case.leader_name
            else None,
            report_due=case.report_due.isoformat() if case.report_due else None,
            supervision=[
                {
                    "id": r.id,
                    "unit_id": r.unit_id,
                    "bureau_unit_id": r.bureau_unit_id,
                    "reason": r.reason,
                    "level": r.level,
                    "status": r.status,
                    "response_due": r.response_due.isoformat(),
                }
                for r in supervision_rows
            ],
        )
    return view
