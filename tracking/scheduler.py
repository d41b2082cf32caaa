"""The clock scheduler: once a day's check comes, a clock goes due-soon or overdue, and an
overdue clock opens supervision, escalates it, or closes the case (PROCEDURE §5, §7).

:func:`scan` reads only the clocks whose ``next_check`` has come (a range of
``ix_clocks_next_check``), in batches ordered by (next_check, id), each batch in its own
transaction. Every change is claimed with a conditional update on the ``next_check`` it read,
so scanning the same day again, or a unit acting on the case meanwhile, changes nothing twice.
:class:`Scheduler` runs the scan every ``XINFANG_SCHEDULER_INTERVAL_SECONDS`` on the one
replica that holds the lease (``shared.lease``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, fields
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.calendar import WorkCalendar
from shared.contracts import ClockDueSoon, ClockOverdue
from shared.db import Database
from shared.lease import Lease, every
from shared.regions import RegionDirectory
from shared.settings import CommonSettings
from tracking import receptions
from tracking import supervision as rules
from tracking.clocks import calendar_of, today_cst
from tracking.models import cases, clocks
from tracking.store import Writer
from tracking.supervision_store import escalate, open_supervision

log = logging.getLogger(__name__)

LEASE = "tracking.clock-scheduler"
BATCH_SIZE = 200  # one transaction each: about half a second of writes at most


@dataclass
class ScanCounts:
    read: int = 0
    due_soon: int = 0
    overdue: int = 0
    supervisions_opened: int = 0
    escalated: int = 0
    cases_closed: int = 0
    rechecked: int = 0  # nothing crossed: only the next check day moved
    skipped: int = 0  # changed meanwhile (a unit acted, another scan got there first)
    failed: int = 0  # left for the next scan
    batches: int = 0

    def add(self, other: ScanCounts) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def changed(self) -> int:
        return self.due_soon + self.overdue + self.rechecked


@dataclass
class _Context:
    topic: str
    calendar: WorkCalendar
    regions: RegionDirectory
    response_days: int
    today: date
    now: datetime


_COLUMNS = (
    clocks.c.id,
    clocks.c.case_id,
    clocks.c.kind,
    clocks.c.unit_id,
    clocks.c.due,
    clocks.c.due_soon_on,
    clocks.c.due_at,
    clocks.c.state,
    clocks.c.basis,
    clocks.c.next_check,
    clocks.c.supervision_id,
    cases.c.tracking_number,
    cases.c.status,
    cases.c.unit_id.label("case_unit_id"),
)


def _due(today: date, after: tuple[date, int] | None, limit: int) -> Any:
    q = select(*_COLUMNS).join(cases, cases.c.id == clocks.c.case_id)
    q = q.where(clocks.c.next_check <= today, clocks.c.stopped_at.is_(None))
    if after is not None:
        day, last = after
        q = q.where(
            or_(clocks.c.next_check > day, and_(clocks.c.next_check == day, clocks.c.id > last))
        )
    return q.order_by(clocks.c.next_check, clocks.c.id).limit(limit)


async def scan(
    db: Database,
    settings: CommonSettings,
    today: date,
    *,
    batch_size: int = BATCH_SIZE,
    regions: RegionDirectory | None = None,
    now: datetime | None = None,
) -> ScanCounts:
    """Applies ``today`` to every clock whose check day has come; returns what it did. A
    clock counted to a moment (``due_at``) is overdue once ``now`` (default: the time) is past
    it, and is looked at by every scan of its last day until then."""
    ctx = _Context(
        topic=settings.topic("tracking"),
        calendar=calendar_of(settings),
        regions=regions or RegionDirectory.default(),
        response_days=settings.supervision_response_days,
        today=today,
        now=now or datetime.now(UTC),
    )
    total = ScanCounts()
    after: tuple[date, int] | None = None
    while True:
        batch = ScanCounts(batches=1)
        rows: list[Any] = []
        try:
            async with db.transaction() as s:
                rows = list((await s.execute(_due(today, after, batch_size))).all())
                for row in rows:
                    await _apply(s, row, ctx, batch)
        except Exception:
            if not rows:
                raise  # the read itself failed: the loop retries at its next interval
            log.exception("clock batch failed; applying its clocks one by one")
            batch = await _one_by_one(db, rows, ctx)
        if not rows:
            break
        batch.read = len(rows)
        total.add(batch)
        after = (rows[-1].next_check, rows[-1].id)
        if len(rows) < batch_size:
            break
    return total


async def _one_by_one(db: Database, rows: list[Any], ctx: _Context) -> ScanCounts:
    counts = ScanCounts(batches=1)
    for row in rows:
        one = ScanCounts()
        try:
            async with db.transaction() as s:
                await _apply(s, row, ctx, one)
        except Exception:
            log.exception("clock not applied", extra={"clock_id": row.id, "case_id": row.case_id})
            one = ScanCounts(failed=1)
        counts.add(one)
    return counts


async def _claim(s: AsyncSession, row: Any, **values: object) -> bool:
    """Changes the clock only if it is as it was read (same check day, still running)."""
    result = await s.execute(
        update(clocks)
        .where(
            clocks.c.id == row.id,
            clocks.c.next_check == row.next_check,
            clocks.c.stopped_at.is_(None),
        )
        .values(**values)
    )
    return result.rowcount == 1


def _precise_step(row: Any, ctx: _Context) -> rules.ClockStep | None:
    """A clock counted to a moment: overdue once it has passed; due soon on its due-soon day,
    then looked at again on its last day; None while nothing can change before a later scan
    of the same day (its check day stays: it is read again)."""
    if ctx.now > row.due_at or ctx.today > row.due:
        return rules.ClockStep("overdue", None)
    if row.state == "on_time" and ctx.today >= row.due_soon_on:
        return rules.ClockStep("due_soon", max(row.due, ctx.today))
    later = row.due_soon_on if row.state == "on_time" else row.due
    return rules.ClockStep("recheck", later) if later > row.next_check else None


async def _apply(s: AsyncSession, row: Any, ctx: _Context, counts: ScanCounts) -> None:
    if row.due_at is not None:
        precise = _precise_step(row, ctx)
        if precise is None:
            return
        step = precise
    else:
        step = rules.clock_step(row.state, row.due, row.due_soon_on, ctx.today)
    if step.action == "recheck":
        counts.rechecked += await _claim(s, row, next_check=step.next_check)
        return
    w = Writer(s, ctx.topic, row.case_id, None, ctx.calendar)
    if step.action == "due_soon":
        if not await _claim(s, row, state="due_soon", next_check=step.next_check):
            counts.skipped += 1
            return
        counts.due_soon += 1
        await w.emit(ClockDueSoon(**_clock_event(row, ctx)), row.case_id)
        return
    if not await _claim(s, row, state="overdue", next_check=None):
        counts.skipped += 1
        return
    counts.overdue += 1
    await w.emit(ClockOverdue(**_clock_event(row, ctx)), row.case_id)
    await _overdue(w, row, ctx, counts)


def _clock_event(row: Any, ctx: _Context) -> dict[str, Any]:
    return {
        "case_id": row.case_id,
        "tracking_number": row.tracking_number,
        "clock": row.kind,
        "unit_id": row.unit_id,
        "due": row.due,
        "noticed_at": ctx.now,
    }


async def _overdue(w: Writer, row: Any, ctx: _Context, counts: ScanCounts) -> None:
    """What an overdue clock sets off, by kind (an objection window just closes)."""
    case = SimpleNamespace(id=row.case_id, tracking_number=row.tracking_number, status=row.status)
    if row.kind in rules.SUPERVISED_KINDS:
        unit_id = row.unit_id or row.case_unit_id
        if unit_id is None:
            log.warning("overdue clock without a unit", extra={"clock_id": row.id})
            return
        await open_supervision(
            w,
            case,
            unit_id=unit_id,
            bureau_unit_id=rules.bureau_of(unit_id, ctx.regions),
            reason="overdue",
            note=f"{row.kind} deadline {row.due.isoformat()} passed ({row.basis})",
            opened_by="system",
            at=ctx.now,
            start=ctx.today,
            days=ctx.response_days,
        )
        counts.supervisions_opened += 1
    elif row.kind == "supervision" and row.supervision_id:
        new = await escalate(
            w,
            case,
            row.supervision_id,
            at=ctx.now,
            today=ctx.today,
            days=ctx.response_days,
            regions=ctx.regions,
        )
        counts.escalated += new is not None
    elif row.kind in rules.WINDOWS:
        counts.cases_closed += await _close_case(w, case, rules.WINDOWS[row.kind], ctx)


async def _close_case(w: Writer, case: Any, window: tuple[str, str], ctx: _Context) -> bool:
    """The petitioner's window ran out: the case is closed, if it still waits for them."""
    expected, why = window
    held = await w.session.execute(
        update(cases)
        .where(cases.c.id == case.id, cases.c.status == expected)
        .values(updated_at=ctx.now)
    )
    if held.rowcount != 1:
        return False  # a request came in meanwhile, or the case moved on
    await w.transition(
        case.id, case.tracking_number, expected, "closed", ctx.now, "system", f"{why}: closed"
    )
    # Its clocks stop; supervision runs beside the case's states and keeps its own
    await w.session.execute(
        update(clocks)
        .where(
            clocks.c.case_id == case.id,
            clocks.c.stopped_at.is_(None),
            clocks.c.kind != "supervision",
        )
        .values(stopped_at=ctx.now, next_check=None, met=None)
    )
    return True


class Scheduler:
    """Scans every ``interval`` seconds while this replica holds the lease."""

    def __init__(
        self,
        db: Database,
        settings: CommonSettings,
        *,
        today: Callable[[], date] = lambda: today_cst(datetime.now(UTC)),
    ) -> None:
        self.db, self.settings, self.today = db, settings, today
        self.lease = Lease(db, LEASE)

    async def tick(self) -> ScanCounts | None:
        """One scan if this replica holds the lease; None if another one does."""
        if not await self.lease.hold():
            return None
        counts = await scan(self.db, self.settings, self.today())
        if counts.changed() or counts.failed:
            log.info("clocks scanned", extra=asdict(counts))
        try:  # the video receptions starting soon: their reminders, by the same one replica
            sent = await receptions.remind(self.db, self.settings, datetime.now(UTC))
        except Exception:
            log.exception("reception reminders failed; retried at the next scan")
        else:
            if sent:
                log.info("reception reminders sent", extra={"receptions": sent})
        return counts

    async def run(self) -> None:
        # the region data (escalation's parents) loads once, off the event loop
        await asyncio.to_thread(RegionDirectory.default)
        await every(self.lease, self.settings.scheduler_interval_seconds, self.tick, "clock scan")


def background(settings: CommonSettings) -> Callable[[Database], Awaitable[None]]:
    """The loop for ``create_service_app(background=...)``."""

    async def loop(db: Database) -> None:
        await Scheduler(db, settings).run()

    return loop
