"""Routing decides where each submitted petition goes (routing.jurisdiction) and says so."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from routing.directory import Unit
from routing.jurisdiction import Directory, decide
from routing.models import decisions, messaging, moves, unit_changes, units
from routing.moves import after_objection, decision_values, explain, move, routed_fields, rule_of
from shared.contracts import (
    CaseDiverted,
    CaseObjected,
    CaseRouted,
    CaseStatusChanged,
    PetitionSubmitted,
)
from shared.db import Database
from shared.events import Envelope, EventData, new_envelope
from shared.messaging import outbox
from shared.messaging.consumer import Handler, NotReady
from shared.settings import CommonSettings

log = logging.getLogger(__name__)
LOOKBACK = 50  # directory changes re-read on each refresh (see Jurisdiction._apply)


class Jurisdiction:
    """The directory the rules route over, loaded from routing's own units table."""

    def __init__(self) -> None:
        self.directory: Directory | None = None
        # The last audited directory change this process has loaded (unit_changes.id)
        self.version: int | None = None
        self._lock = asyncio.Lock()  # one reload at a time; the next sees what it missed
        self._soon: set[asyncio.Task[bool]] = set()

    @staticmethod
    async def _version(db: Database) -> int:
        async with db.sessions() as s:
            return (await s.execute(select(func.max(unit_changes.c.id)))).scalar() or 0

    async def load(self, db: Database) -> None:
        # The version first: a change committed while the units are read is seen again on
        # the next refresh, never missed
        version = await self._version(db)
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
        self.version = version

    async def _apply(self, db: Database, latest: int) -> None:
        """Applies the units changed since the loaded version (their rows as they are now)
        over the loaded directory: a directory edit costs a few rows, not ~100,000. It looks
        back ``LOOKBACK`` changes, for an edit whose audit row got its id before a later one
        but committed after it."""
        assert self.directory is not None and self.version is not None
        changed = select(unit_changes.c.unit_id).where(
            unit_changes.c.id > self.version - LOOKBACK, unit_changes.c.id <= latest
        )
        async with db.sessions() as s:
            rows = (await s.execute(select(units).where(units.c.id.in_(changed)))).all()
        now = {u.id: u for u in self.directory.units()}
        successors = dict(self.directory.successor_of)
        for r in rows:
            now.pop(r.id, None)
            successors.pop(r.id, None)
            if r.status == "active":
                now[r.id] = Unit(r.id, r.name, r.region_code, r.level, r.function, r.parent_id)
            elif r.successor_id:
                successors[r.id] = r.successor_id
        self.directory = await asyncio.to_thread(
            Directory, list(now.values()), successor_of=successors
        )
        self.version = latest

    async def refresh(self, db: Database) -> bool:
        """Reloads when an operator changed the directory (in any replica) since the last
        load; one indexed ``max(id)`` otherwise. True if it reloaded."""
        async with self._lock:
            latest = await self._version(db)
            if latest == self.version:
                return False
            if self.directory is None or self.version is None:
                await self.load(db)
            else:
                await self._apply(db, latest)
        log.info("unit directory reloaded", extra={"version": self.version})
        return True

    def refresh_soon(self, db: Database) -> None:
        """Reloads in the background, after a directory edit answered by this process: a
        reload of ~100,000 units takes seconds, which the operator's request must not wait
        for (nor a retry after a gateway timeout apply the edit twice)."""

        async def quietly() -> bool:
            try:
                return await self.refresh(db)
            except Exception:
                log.warning("unit directory refresh failed", exc_info=True)
                return False

        task = asyncio.create_task(quietly())
        self._soon.add(task)
        task.add_done_callback(self._soon.discard)

    async def follow(self, db: Database, every: float) -> None:
        """Keeps this replica's directory in step with the database, every ``every`` s."""
        while True:
            await asyncio.sleep(every)
            try:
                await self.refresh(db)
            except Exception:  # a database outage must not end the loop; the next try will do
                log.warning("unit directory refresh failed", exc_info=True)


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
            override_unit_id=data.routing_unit_id,
        )
        now = datetime.now(UTC)
        lead = decision.lead_unit_id or ""
        rule = rule_of(decision)
        await session.execute(
            decisions.insert().values(
                case_id=data.petition_id,
                tracking_number=data.tracking_number,
                **decision_values(decision, now),
                inputs={
                    "region_code": data.region_code,
                    "category": data.category or "other",
                    "kind": data.kind,
                    "accused_unit_id": data.accused_unit_id,
                    "headcount": data.headcount,
                    "theme": data.theme,
                    "routing_unit_id": data.routing_unit_id,
                },
            )
        )
        await session.execute(
            moves.insert().values(
                case_id=data.petition_id,
                revision=0,
                cause="rules",
                outcome=decision.outcome,
                unit_id=lead,
                actor="routing",
                rule=rule,
                at=now,
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
            event = CaseRouted(
                **routed_fields(
                    decision,
                    jurisdiction.directory,
                    case_id=data.petition_id,
                    tracking_number=data.tracking_number,
                    at=now,
                )
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

    async def on_objected(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, CaseObjected)
        row = (
            await session.execute(select(decisions).where(decisions.c.case_id == data.case_id))
        ).first()
        if row is None:
            raise NotReady("no routing decision for this case yet")
        if row.revision != data.revision or row.unit_id != data.unit_id:
            log.info(
                "objection to an earlier decision ignored",
                extra={"case_id": data.case_id, "revision": data.revision},
            )
            return  # the case moved meanwhile (an operator): that move stands
        assert jurisdiction.directory is not None, "the directory loads before consuming"
        objected = [*(row.objected_unit_ids or []), data.unit_id]
        decision, cause = after_objection(
            inputs=row.inputs,
            objected=frozenset(objected),
            transfers=row.transfers,
            cap=settings.transfer_cap,
            directory=jurisdiction.directory,
            major=row.major,
            notify_unit_ids=row.notify_unit_ids or (),
        )
        await move(
            session,
            topic=topic,
            row=row,
            decision=decision,
            cause=cause,
            reason=data.reason,
            actor=data.unit_id,
            at=datetime.now(UTC),
            directory=jurisdiction.directory,
            objected=objected,
            objection_allowed=True,
            correlation_id=envelope.correlationid,
            causation_id=envelope.id,
        )

    async def on_status(session: AsyncSession, envelope: Envelope, data: EventData) -> None:
        assert isinstance(data, CaseStatusChanged)
        await session.execute(
            update(decisions)
            .where(decisions.c.case_id == data.case_id)
            .values(case_status=data.status)
        )

    return {
        PetitionSubmitted.TYPE: on_submitted,
        CaseObjected.TYPE: on_objected,
        CaseStatusChanged.TYPE: on_status,
    }
