"""Routing decides where each submitted petition goes (routing.jurisdiction) and says so."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from routing.directory import Unit
from routing.jurisdiction import Directory, RoutingDecision, decide
from routing.models import decisions, messaging, units
from shared.contracts import CaseDiverted, CaseRouted, PetitionSubmitted
from shared.db import Database
from shared.events import Envelope, EventData, new_envelope
from shared.messaging import outbox
from shared.messaging.consumer import Handler
from shared.settings import CommonSettings


class Jurisdiction:
    """The directory the rules route over, loaded from routing's own units table."""

    def __init__(self) -> None:
        self.directory: Directory | None = None

    async def load(self, db: Database) -> None:
        async with db.sessions() as s:
            rows = (await s.execute(select(units))).all()
        active = [
            Unit(r.id, r.name, r.region_code, r.level, r.function, r.parent_id)
            for r in rows
            if r.status == "active"
        ]
        successors = {
            r.id: r.successor_id for r in rows if r.status == "retired" and r.successor_id
        }
        self.directory = await asyncio.to_thread(Directory, active, successor_of=successors)


def explain(decision: RoutingDecision) -> str:
    steps = "; ".join(
        f"{p.get('step')}: " + ", ".join(f"{k}={v}" for k, v in p.items() if k != "step")
        for p in decision.path
    )
    return steps[:4000]


def handlers(
    settings: CommonSettings, jurisdiction: Jurisdiction | None = None
) -> dict[str, Handler]:
    topic = settings.topic("routing")
    jurisdiction = jurisdiction or Jurisdiction()

    async def on_submitted(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, PetitionSubmitted)
        done = (
            await session.execute(
                select(decisions.c.case_id).where(decisions.c.case_id == data.petition_id)
            )
        ).first()
        if done or data.repeat_outcome:
            return  # one decision per case; a repeat joins its earlier case, not a new route
        assert jurisdiction.directory is not None, "the directory loads before consuming"
        decision = decide(
            region_code=data.region_code,
            category=data.category or "other",
            kind=data.kind,
            accused_unit_id=data.accused_unit_id,
            headcount=data.headcount,
            text=f"{data.title}\n{data.content}",
            directory=jurisdiction.directory,
        )
        now = datetime.now(UTC)
        lead = decision.lead_unit_id or ""
        rule = f"{decision.outcome}:{decision.function or 'none'}@{decision.level or 'none'}"
        await session.execute(
            decisions.insert().values(
                case_id=data.petition_id,
                tracking_number=data.tracking_number,
                unit_id=lead,
                function=decision.function,
                region_code=decision.region_code,
                level=decision.level,
                rule=rule,
                explanation=explain(decision),
                decided_at=now,
                outcome=decision.outcome,
                co_unit_ids=list(decision.co_unit_ids),
                notify_unit_ids=list(decision.notify_unit_ids),
                major=decision.major,
                path=list(decision.path),
                excluded=[list(x) for x in decision.excluded],
            )
        )
        event: CaseRouted | CaseDiverted
        if decision.outcome == "diverted":
            event = CaseDiverted(
                case_id=data.petition_id,
                tracking_number=data.tracking_number,
                unit_id=lead,
                region_code=decision.region_code,
                legal_channel=data.legal_channel,
                legal_channel_name=data.legal_channel_name,
                rule=rule,
                explanation=explain(decision),
                diverted_at=now,
            )
        else:
            unit = jurisdiction.directory.get(lead)
            event = CaseRouted(
                case_id=data.petition_id,
                tracking_number=data.tracking_number,
                unit_id=lead,
                unit_name=unit.name if unit else None,
                function=decision.function,
                region_code=decision.region_code,
                level=decision.level,
                rule=rule,
                explanation=explain(decision),
                routed_at=now,
                outcome=decision.outcome,
                co_unit_ids=list(decision.co_unit_ids),
                major=decision.major,
                notify_unit_ids=list(decision.notify_unit_ids),
            )
        await outbox.record(
            session,
            messaging,
            topic,
            new_envelope(
                event,
                subject=data.petition_id,
                correlation_id=envelope.correlationid,
                causation_id=envelope.id,
            ),
        )

    return {PetitionSubmitted.TYPE: on_submitted}
