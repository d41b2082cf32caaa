"""Moving a case between units after its first decision (PROCEDURE §4, Art. 23, 24, 30).

Three causes move a case, each recorded as a new revision of its decision, a row of
``routing_moves`` and a ``routing.case.rerouted.v1`` event:

- ``objection``: the handling unit objected within its window; the rules decide again from the
  same facts, excluding every unit that has objected to this case so far;
- ``transfer_cap``: the case has been moved ``transfer_cap`` times already (anti 踢皮球); the
  petition bureau of the handling region must name the lead unit itself;
- ``operator``: an operator, or the petition bureau holding the case in triage, names the lead
  unit (and co-handlers) with a reason. Once the cap has been reached, that choice is final:
  the unit named may no longer object.

The pure parts (:func:`after_objection`, :func:`named_by_hand`) are unit-tested; :func:`move`
writes the revision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from routing.jurisdiction import Directory, RoutingDecision, decide, to_bureau
from routing.models import decisions, messaging, moves
from shared.contracts import CaseRerouted
from shared.errors import Conflict, Invalid
from shared.events import new_envelope
from shared.messaging import outbox


def rule_of(decision: RoutingDecision) -> str:
    return f"{decision.outcome}:{decision.function or 'none'}@{decision.level or 'none'}"


def explain(decision: RoutingDecision) -> str:
    steps = "; ".join(
        f"{p.get('step')}: " + ", ".join(f"{k}={v}" for k, v in p.items() if k != "step")
        for p in decision.path
    )
    return steps[:4000]


def decision_values(decision: RoutingDecision, at: datetime) -> dict[str, Any]:
    """A decision as the columns of ``routing_decisions`` hold it."""
    return {
        "unit_id": decision.lead_unit_id or "",
        "function": decision.function,
        "region_code": decision.region_code,
        "level": decision.level,
        "rule": rule_of(decision),
        "explanation": explain(decision),
        "decided_at": at,
        "outcome": decision.outcome,
        "co_unit_ids": list(decision.co_unit_ids),
        "notify_unit_ids": list(decision.notify_unit_ids),
        "major": decision.major,
        "path": list(decision.path),
        "excluded": [list(x) for x in decision.excluded],
    }


def routed_fields(
    decision: RoutingDecision,
    directory: Directory,
    *,
    case_id: str,
    tracking_number: str,
    at: datetime,
) -> dict[str, Any]:
    """What ``routing.case.routed.v1`` (and ``rerouted``) says of a decision: the unit, the
    rule path, the co-handlers and who reviews the lead's reply."""
    lead = decision.lead_unit_id or ""
    unit = directory.get(lead)
    routed = decision.outcome == "routed"
    return {
        "case_id": case_id,
        "tracking_number": tracking_number,
        "unit_id": lead,
        "unit_name": unit.name if unit else None,
        "function": decision.function,
        "region_code": decision.region_code,
        "level": decision.level,
        "rule": rule_of(decision),
        "explanation": explain(decision),
        "routed_at": at,
        "outcome": decision.outcome,
        "co_unit_ids": list(decision.co_unit_ids),
        "major": decision.major,
        "notify_unit_ids": list(decision.notify_unit_ids),
        "review_chain": list(directory.review_chain(lead) if routed else ()),
    }


def after_objection(
    *,
    inputs: dict[str, Any] | None,
    objected: frozenset[str],
    transfers: int,
    cap: int,
    directory: Directory,
    major: bool,
    notify_unit_ids: Sequence[str],
) -> tuple[RoutingDecision, str]:
    """The decision after an objection and its cause: the rules again without the units that
    objected, or the petition bureau once ``transfers`` has reached ``cap``."""
    facts = inputs or {}
    region = str(facts.get("region_code", ""))
    accused = facts.get("accused_unit_id")
    if transfers >= cap:
        why = f"moved {transfers} times already (cap {cap}): the petition bureau names the lead"
        return to_bureau(
            region_code=region,
            accused_unit_id=accused,
            directory=directory,
            why=why,
            excluded_unit_ids=objected,
        ), "transfer_cap"
    if not inputs:
        return to_bureau(
            region_code=region,
            accused_unit_id=accused,
            directory=directory,
            why="the facts of the first decision are not on record: the petition bureau",
            excluded_unit_ids=objected,
        ), "objection"
    decision = decide(
        region_code=region,
        category=str(facts.get("category") or "other"),
        kind=str(facts.get("kind", "grievance")),
        accused_unit_id=accused,
        headcount=int(facts.get("headcount", 1)),
        text="",  # the text was read for the major flag at the first decision; it stays
        directory=directory,
        excluded_unit_ids=objected,
        topic=facts.get("topic"),
    )
    if decision.outcome == "diverted":  # not reachable from a routed case; never lose it
        return to_bureau(
            region_code=region,
            accused_unit_id=accused,
            directory=directory,
            why="re-routing found a diversion: the petition bureau decides",
            excluded_unit_ids=objected,
        ), "objection"
    if major:
        notify = decision.notify_unit_ids if decision.major else tuple(notify_unit_ids)
        decision = replace(decision, major=True, notify_unit_ids=notify)
    return decision, "objection"


def named_by_hand(
    *,
    row: Any,
    unit_id: str,
    co_unit_ids: Sequence[str],
    actor: str,
    reason: str,
    directory: Directory,
) -> RoutingDecision:
    """An operator's (or the holding bureau's) choice, checked against what the law forbids:
    an accusation never goes to the accused unit or its successors, only to a discipline
    organ, and has no co-handlers (Art. 30, 46); a retired unit names its successor."""
    unit = directory.get(unit_id)
    if unit is None:
        successor = directory.successor_of.get(unit_id)
        if successor:
            current = directory.lineage(unit_id)[-1]
            raise Invalid("unit_id", f"{unit_id} is retired; its successor is {current}")
        raise Invalid("unit_id", f"no unit {unit_id} in the directory")
    facts = row.inputs or {}
    co = list(dict.fromkeys(co_unit_ids))
    for i, uid in enumerate(co):
        if directory.get(uid) is None:
            raise Invalid(f"co_unit_ids.{i}", f"no active unit {uid} in the directory")
        if uid == unit_id:
            raise Invalid(f"co_unit_ids.{i}", "the lead unit is not its own co-handler")
    if facts.get("kind") == "accusation" or facts.get("category") == "misconduct":
        accused = facts.get("accused_unit_id")
        barred = set(directory.lineage(accused)) if accused else set()
        if unit_id in barred:
            raise Invalid(
                "unit_id", "an accusation never goes to the accused unit or its successors"
            )
        if unit.function != "discipline":
            raise Invalid(
                "unit_id",
                "an accusation goes to a discipline organ (Art. 30)",
                function=unit.function,
            )
        if co:
            raise Invalid("co_unit_ids", "an accusation has no co-handling units (Art. 46)")
    if row.unit_id == unit_id and row.outcome == "routed" and list(row.co_unit_ids or []) == co:
        raise Conflict(f"the case is already with {unit_id}")
    notify = tuple(row.notify_unit_ids or ()) if row.major else ()
    return RoutingDecision(
        outcome="routed",
        lead_unit_id=unit.id,
        co_unit_ids=tuple(co),
        function=unit.function,
        level=unit.level,
        region_code=unit.region_code,
        major=bool(row.major),
        notify_unit_ids=notify,
        path=(
            {"step": "operator", "unit": unit.id, "by": actor, "why": reason},
            *({"step": "co", "unit": uid, "why": "named by hand"} for uid in co),
        ),
        excluded=(),
    )


async def move(
    session: AsyncSession,
    *,
    topic: str,
    row: Any,
    decision: RoutingDecision,
    cause: str,
    reason: str,
    actor: str,
    at: datetime,
    directory: Directory,
    objected: Sequence[str],
    objection_allowed: bool,
    correlation_id: str,
    causation_id: str | None = None,
    report_due: date | None = None,
) -> CaseRerouted:
    """Writes the next revision of a case's decision, its history row and its event, in the
    caller's transaction. Raises ``Conflict`` if another move got there first."""
    revision, transfers = row.revision + 1, row.transfers + 1
    lead = decision.lead_unit_id or ""
    rule = rule_of(decision)
    done = await session.execute(
        update(decisions)
        .where(decisions.c.case_id == row.case_id, decisions.c.revision == row.revision)
        .values(
            **decision_values(decision, at),
            revision=revision,
            transfers=transfers,
            objected_unit_ids=list(objected),
            objection_allowed=objection_allowed,
        )
    )
    if done.rowcount != 1:
        raise Conflict("the case was moved meanwhile; read its routing again")
    await session.execute(
        moves.insert().values(
            case_id=row.case_id,
            revision=revision,
            cause=cause,
            outcome=decision.outcome,
            unit_id=lead,
            previous_unit_id=row.unit_id or None,
            actor=actor,
            reason=reason[:500],
            rule=rule,
            at=at,
        )
    )
    event = CaseRerouted(
        **routed_fields(
            decision, directory, case_id=row.case_id, tracking_number=row.tracking_number, at=at
        ),
        objection_allowed=objection_allowed and decision.outcome == "routed",
        report_due=report_due,
        revision=revision,
        transfers=transfers,
        previous_unit_id=row.unit_id or None,
        cause=cause,
        reason=reason[:500],
        actor=actor,
    )
    envelope = new_envelope(
        event, subject=row.case_id, correlation_id=correlation_id, causation_id=causation_id
    )
    await outbox.record(session, messaging, topic, envelope)
    return event
