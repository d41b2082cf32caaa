"""What is late in a region today: supervision by status, supervision whose response is
overdue, and the cases whose unit let a deadline pass (``GET /api/v1/supervision/summary``,
the operator console's counters).

A case counts as overdue when a running clock of a unit's duty has passed its last day: the
clocks that open supervision when they run out, and the supervised unit's own response clock.
The petitioner's review windows and the objection window are not a unit's duty and do not
count (they are still listed by kind under ``clocks``).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tracking import supervision as rules
from tracking.models import cases, clocks, supervisions

DUTY_KINDS = (*rules.SUPERVISED_KINDS, "supervision")


async def summary(session: AsyncSession, prefix: str | None, today: date) -> dict[str, Any]:
    """The counts for the cases whose region code starts with ``prefix`` (all without one)."""
    inside = cases.c.region_code.startswith(prefix) if prefix else None

    def where(q: Any) -> Any:
        return q if inside is None else q.where(inside)

    joined = supervisions.join(cases, cases.c.id == supervisions.c.case_id)
    by_status = dict(
        (
            await session.execute(
                where(
                    select(supervisions.c.status, func.count())
                    .select_from(joined)
                    .group_by(supervisions.c.status)
                )
            )
        ).all()
    )
    response_overdue = await session.scalar(
        where(
            select(func.count())
            .select_from(joined)
            .where(supervisions.c.status == "open", supervisions.c.response_due < today)
        )
    )
    late = (clocks.c.stopped_at.is_(None)) & (clocks.c.due < today)
    on_cases = clocks.join(cases, cases.c.id == clocks.c.case_id)
    by_kind = dict(
        (
            await session.execute(
                where(
                    select(clocks.c.kind, func.count())
                    .select_from(on_cases)
                    .where(late)
                    .group_by(clocks.c.kind)
                )
            )
        ).all()
    )
    overdue_cases = await session.scalar(
        where(
            select(func.count(distinct(clocks.c.case_id)))
            .select_from(on_cases)
            .where(late, clocks.c.kind.in_(DUTY_KINDS))
        )
    )
    return {
        "today": today.isoformat(),
        "supervision": {s: int(by_status.get(s, 0)) for s in rules.STATUSES}
        | {"response_overdue": int(response_overdue or 0)},
        "overdue": {
            "cases": int(overdue_cases or 0),
            "clocks": {k: int(n) for k, n in sorted(by_kind.items())},
        },
    }
