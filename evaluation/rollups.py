"""Keeping the scorecard rollups, per event, in the transaction that applies the event.

Every event evaluation consumes about a case ends with :func:`refresh` of that case (and of
the case it repeats): it locks the case's ``scorecard_cases`` row, computes what the case
adds now (``evaluation.scorecard.contribution``), and applies the difference from what it
added last time (stored with it) to ``scorecard_rollups``. A redelivered or reordered event
leaves the same case row, so the same contribution, so no change. :func:`with_analytics`
wraps the handlers of ``evaluation.handlers`` so and adds the facts only analytics need
(overdue clocks, ratings, collective flags, warnings).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from evaluation import early_warning
from evaluation.models import case_reads, scorecard_cases, scorecard_rollups
from evaluation.scorecard import Contribution, backlog_from, contribution, cst_day, merge
from shared.contracts import (
    ClockOverdue,
    PetitionCollectiveFlagged,
    RatingNotRated,
    RatingRecorded,
    WarningRaised,
)
from shared.events import Envelope, EventData
from shared.messaging.consumer import Handler, NotReady
from shared.settings import CommonSettings

MOMENTS = ("acceptance", "reply")
CLOCKS = ("acceptance", "handling")


def today_cst() -> date:
    return cst_day(datetime.now(UTC))


@dataclass(frozen=True)
class Analytics:
    """What keeping the rollups needs: settings, today (China time), and whether to raise
    early warnings (not while rebuilding: those are restored from their own events)."""

    settings: CommonSettings
    today: Callable[[], date] = today_cst
    live: bool = True

    def on(self, day: date) -> Analytics:
        return dataclasses.replace(self, today=lambda: day)


def _insert(session: AsyncSession) -> Any:
    return postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert


async def _facts(session: AsyncSession, case_id: str) -> Any:
    """The case's facts row, created if missing and locked until the transaction ends (two
    replicas applying events of one case from two topics take turns)."""
    q = select(scorecard_cases).where(scorecard_cases.c.case_id == case_id).with_for_update()
    row = (await session.execute(q)).first()
    if row is None:  # the case's first event: one insert, then the lock
        insert = _insert(session)
        await session.execute(
            insert(scorecard_cases).values(case_id=case_id).on_conflict_do_nothing()
        )
        row = (await session.execute(q)).first()
    return row


async def set_facts(session: AsyncSession, case_id: str, **values: object) -> None:
    await _facts(session, case_id)
    await session.execute(
        update(scorecard_cases).where(scorecard_cases.c.case_id == case_id).values(**values)
    )


async def _repeated(session: AsyncSession, case_id: str) -> bool:
    q = select(case_reads.c.case_id).where(case_reads.c.repeat_of == case_id).limit(1)
    return (await session.execute(q)).first() is not None


async def refresh(
    session: AsyncSession, case_id: str, ctx: Analytics, cause: Envelope | None = None
) -> Any | None:
    """Brings the rollups in line with the case as it is now; returns its case_reads row."""
    facts = await _facts(session, case_id)
    case = (
        await session.execute(select(case_reads).where(case_reads.c.case_id == case_id))
    ).first()
    days = ctx.settings.backlog_days
    new: Contribution | None = None
    watch: date | None = None
    if case is not None:
        repeated = await _repeated(session, case_id)
        new = contribution(case, facts, repeated=repeated, today=ctx.today(), backlog_days=days)
        watch = None if new.measures.get("backlog") else backlog_from(case, days)
    dumped = new.dump() if new is not None else None
    if dumped == facts.applied and watch == facts.backlog_from:
        return case
    old = Contribution.load(facts.applied) if facts.applied else None
    changes = merge(old, new)
    if changes:
        await _add(session, changes)
    await session.execute(
        update(scorecard_cases)
        .where(scorecard_cases.c.case_id == case_id)
        .values(applied=dumped, backlog_from=watch)
    )
    if ctx.live:
        await _warn(session, ctx, changes, cause)
    return case


async def _add(
    session: AsyncSession, changes: dict[tuple[str, str, date, str], dict[str, int]]
) -> None:
    """Adds the changes to their rollup cells in one statement: a row per cell, in one
    order (so two transactions lock shared cells in the same order), every counter that moves
    in any cell (zero where it does not)."""
    moved = sorted({name for delta in changes.values() for name in delta})
    rows = [
        {"scope": scope, "scope_id": scope_id, "day": day, "category": category}
        | {name: delta.get(name, 0) for name in moved}
        for (scope, scope_id, day, category), delta in sorted(changes.items())
    ]
    table = scorecard_rollups
    statement = _insert(session)(table).values(rows)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["scope", "scope_id", "day", "category"],
            set_={name: table.c[name] + statement.excluded[name] for name in moved},
        )
    )


async def _warn(
    session: AsyncSession,
    ctx: Analytics,
    changes: dict[tuple[str, str, date, str], dict[str, int]],
    cause: Envelope | None,
) -> None:
    """New petitions today (or late ones of yesterday) may set off an early warning."""
    since = ctx.today() - timedelta(days=1)
    for (scope, region, day, category), delta in sorted(changes.items()):
        if scope == "region" and delta.get("petitions", 0) > 0 and day >= since:
            await early_warning.check(session, ctx.settings, region, category, day, cause)


def _case_id(env: Envelope, data: EventData) -> str:
    return getattr(data, "case_id", None) or getattr(data, "petition_id", None) or env.subject


def with_analytics(
    base: dict[str, Handler],
    settings: CommonSettings,
    *,
    today: Callable[[], date] | None = None,
    live: bool = True,
) -> dict[str, Handler]:
    """Evaluation's handlers, each followed by the refresh of the case's rollups, plus the
    facts that only analytics consume."""
    ctx = Analytics(settings, today or today_cst, live)

    async def on_overdue(session: AsyncSession, _env: Envelope, data: EventData) -> None:
        assert isinstance(data, ClockOverdue)
        if data.clock in CLOCKS:
            values = {
                f"{data.clock}_overdue_unit": data.unit_id,
                f"{data.clock}_overdue_due": data.due,
            }
            await set_facts(session, data.case_id, **values)

    async def on_rating(session: AsyncSession, _env: Envelope, data: EventData) -> None:
        assert isinstance(data, RatingRecorded)
        if data.moment in MOMENTS:  # a changed rating replaces the first one
            await set_facts(session, data.case_id, **{f"{data.moment}_rating": data.level})

    async def on_not_rated(session: AsyncSession, _env: Envelope, data: EventData) -> None:
        assert isinstance(data, RatingNotRated)
        if data.moment in MOMENTS:
            await _facts(session, data.case_id)
            column = scorecard_cases.c[f"{data.moment}_rating"]
            await session.execute(
                update(scorecard_cases)
                .where(scorecard_cases.c.case_id == data.case_id, column.is_(None))
                .values({column: "not_rated"})
            )

    async def on_collective(session: AsyncSession, _env: Envelope, data: EventData) -> None:
        assert isinstance(data, PetitionCollectiveFlagged)
        done = await session.execute(
            update(case_reads)
            .where(case_reads.c.case_id == data.petition_id)
            .values(collective_id=data.collective_id)
        )
        if done.rowcount != 1:
            raise NotReady("case not in the read model yet: waiting for its registration")

    async def on_warning(session: AsyncSession, _env: Envelope, data: EventData) -> None:
        assert isinstance(data, WarningRaised)
        await early_warning.restore(session, data)

    def then_refresh(first: Handler | None, second: Handler | None = None) -> Handler:
        async def handle(session: AsyncSession, env: Envelope, data: EventData) -> None:
            for step in (first, second):
                if step is not None:
                    await step(session, env, data)
            case = await refresh(session, _case_id(env, data), ctx, env)
            if case is not None and case.repeat_of:
                await refresh(session, case.repeat_of, ctx, env)

        return handle

    out = {type_: then_refresh(handler) for type_, handler in base.items()}
    for model, extra in (
        (ClockOverdue, on_overdue),
        (RatingRecorded, on_rating),
        (RatingNotRated, on_not_rated),
        (PetitionCollectiveFlagged, on_collective),
    ):
        out[model.TYPE] = then_refresh(base.get(model.TYPE), extra)
    out[WarningRaised.TYPE] = on_warning
    return out
