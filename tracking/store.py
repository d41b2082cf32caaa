"""How tracking writes a case: every status change goes through :func:`transition`, which
writes the timeline and announces the new status in the same transaction (outbox)."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.calendar import Unit, WorkCalendar
from shared.contracts import CaseStatusChanged, NotificationRequested
from shared.events import EventData, new_envelope
from shared.messaging import outbox
from shared.vocabulary import CST, STATUSES
from tracking import webhooks
from tracking.models import cases, clocks, messaging, timeline

# Steps the petitioner hears about (tracking.notification.requested.v1, template case.<status>)
NOTIFY = tuple(s for s in STATUSES if s not in ("received", "triage"))
DUE_SOON_SHARE = 0.8
# A themed channel's response clock (hours, precise): the unit's first response stops it
THEME_CLOCK = "theme_response"
# ... which is any of these steps (acceptance, a reply, or the case ending otherwise); a
# withdrawal stops it without judging the unit
RESPONSE_STATUSES = tuple(
    s for s in STATUSES if s not in ("received", "triage", "routed", "withdrawn")
)


def cst_date(moment: datetime | date) -> date:
    return moment.astimezone(CST).date() if isinstance(moment, datetime) else moment


def due_soon_on(start: date, due: date, share: float = DUE_SOON_SHARE) -> date:
    """The day a clock has used ``share`` of its time (never before the day after start)."""
    span = (due - start).days
    return start + timedelta(days=max(1, math.ceil(span * share))) if span > 0 else due


class Writer:
    """Writes for one cause: an event consumed, or a request (its correlation id)."""

    def __init__(
        self,
        session: AsyncSession,
        topic: str,
        correlation_id: str,
        causation_id: str | None,
        calendar: WorkCalendar | None = None,
    ) -> None:
        self.session, self.topic = session, topic
        self.correlation_id, self.causation_id = correlation_id, causation_id
        self.calendar = calendar or WorkCalendar()

    async def start_clock(
        self,
        case_id: str,
        kind: str,
        start: datetime | date,
        days: int,
        *,
        unit: Unit = "calendar",
        basis: str,
        unit_id: str | None = None,
        supervision_id: str | None = None,
    ) -> date:
        """Starts a deadline (PROCEDURE §5 counting) and returns its last day. A clock of the
        same kind still running for the case is stopped first (a case moved to a new unit);
        a supervision clock replaces only its own supervision's (several may run at once)."""
        await self.stop_clock(case_id, kind, start, met=None, supervision_id=supervision_id)
        first = cst_date(start)
        result = self.calendar.due(first, days, unit)
        soon = due_soon_on(first, result.date)
        await self.session.execute(
            clocks.insert().values(
                case_id=case_id,
                kind=kind,
                unit_id=unit_id,
                started_on=first,
                due=result.date,
                due_soon_on=soon,
                state="on_time",
                provisional=result.provisional,
                basis=basis[:200],
                next_check=soon,
                supervision_id=supervision_id,
            )
        )
        return result.date

    async def start_precise_clock(
        self,
        case_id: str,
        kind: str,
        start: datetime,
        hours: int,
        *,
        basis: str,
        unit_id: str | None = None,
    ) -> datetime:
        """A clock counted in hours to a precise moment (a themed channel's response time):
        ``due`` is that moment's day in China time, due soon once ``DUE_SOON_SHARE`` of the
        hours have passed. Returns the moment."""
        await self.stop_clock(case_id, kind, start, met=None)
        due_at = start + timedelta(hours=hours)
        soon = cst_date(start + timedelta(hours=hours * DUE_SOON_SHARE))
        await self.session.execute(
            clocks.insert().values(
                case_id=case_id,
                kind=kind,
                unit_id=unit_id,
                started_on=cst_date(start),
                due=cst_date(due_at),
                due_soon_on=soon,
                due_at=due_at,
                state="on_time",
                provisional=False,
                basis=basis[:200],
                next_check=soon,
            )
        )
        return due_at

    async def stop_precise_clock(
        self, case_id: str, kind: str, at: datetime, *, judged: bool = True
    ) -> None:
        """Stops a running clock counted to a moment: met when ``at`` is not after it (None
        when not ``judged``: it no longer applies)."""
        running = (
            await self.session.execute(
                select(clocks.c.id, clocks.c.due_at).where(
                    clocks.c.case_id == case_id,
                    clocks.c.kind == kind,
                    clocks.c.stopped_at.is_(None),
                )
            )
        ).all()
        for row in running:
            met = (at <= row.due_at) if judged and row.due_at is not None else None
            await self.session.execute(
                update(clocks)
                .where(clocks.c.id == row.id, clocks.c.stopped_at.is_(None))
                .values(stopped_at=at, next_check=None, met=met)
            )

    async def stop_clock(
        self,
        case_id: str,
        kind: str,
        at: datetime | date,
        *,
        met: bool | None = True,
        supervision_id: str | None = None,
    ) -> None:
        """Stops the running clocks of a kind: ``met`` says whether the step was done in time
        (computed from the day when True; None for a clock that just no longer applies)."""
        day = cst_date(at)
        q = update(clocks).where(
            clocks.c.case_id == case_id, clocks.c.kind == kind, clocks.c.stopped_at.is_(None)
        )
        if supervision_id is not None:
            q = q.where(clocks.c.supervision_id == supervision_id)
        stamp = at if isinstance(at, datetime) else datetime.now(UTC)
        values: dict[str, Any] = {"stopped_at": stamp, "next_check": None}
        if met is None:
            values["met"] = None
        else:
            values["met"] = clocks.c.due >= literal(day)
        await self.session.execute(q.values(**values))

    async def stop_all_clocks(self, case_id: str, at: datetime) -> None:
        """A concluded case (withdrawn, not accepted, closed, ...): nothing runs any more. A
        themed channel's response clock still running is judged: ending the case answers."""
        await self.stop_precise_clock(case_id, THEME_CLOCK, at)
        await self.session.execute(
            update(clocks)
            .where(clocks.c.case_id == case_id, clocks.c.stopped_at.is_(None))
            .values(stopped_at=at, next_check=None, met=None)
        )

    async def case(self, case_id: str) -> Any:
        return (await self.session.execute(select(cases).where(cases.c.id == case_id))).first()

    async def emit(self, data: EventData, case_id: str) -> None:
        envelope = new_envelope(
            data,
            subject=case_id,
            correlation_id=self.correlation_id,
            causation_id=self.causation_id,
        )
        await outbox.record(self.session, messaging, self.topic, envelope)
        await webhooks.fan_out(self.session, envelope)  # the unit's webhooks, same transaction

    async def note(
        self,
        case_id: str,
        at: datetime,
        status: str,
        actor: str,
        text: str,
        public: bool = True,
    ) -> None:
        await self.session.execute(
            timeline.insert().values(
                case_id=case_id, at=at, status=status, actor=actor, note=text, public=public
            )
        )

    async def transition(
        self,
        case_id: str,
        number: str,
        previous: str | None,
        status: str,
        at: datetime,
        actor: str,
        text: str,
        unit_id: str | None = None,
        **values: object,
    ) -> None:
        if unit_id:
            values["unit_id"] = unit_id
        await self.session.execute(
            cases.update()
            .where(cases.c.id == case_id)
            .values(status=status, updated_at=datetime.now(UTC), **values)
        )
        await self.note(case_id, at, status, actor, text)
        if status in RESPONSE_STATUSES:  # the unit's first response stops the channel's clock
            await self.stop_precise_clock(case_id, THEME_CLOCK, at)
        await self.emit(
            CaseStatusChanged(
                case_id=case_id,
                tracking_number=number,
                status=status,
                previous=previous,
                unit_id=unit_id,
                changed_at=at,
            ),
            case_id,
        )
        if status in NOTIFY:
            owner, proactive = (
                await self.session.execute(
                    select(cases.c.owner_ref, cases.c.proactive).where(cases.c.id == case_id)
                )
            ).one()
            if proactive:  # a grid worker's report: there is no petitioner to tell
                return
            await self.emit(
                NotificationRequested(
                    case_id=case_id,
                    tracking_number=number,
                    template=f"case.{status}",
                    recipient_ref=owner,
                    params={"status": status, "text": text[:500]},
                    requested_at=at,
                ),
                case_id,
            )
