"""Reading the analytics: sums of the rollups over a period, time series, the situation's
counts, collective-petition clusters and warnings. Every figure is read from
``scorecard_rollups`` (kept per event), never recomputed from the cases, except the clusters,
which are few and read from ``case_reads`` by their index."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from evaluation.models import analytics_warnings, case_reads, receptions, scorecard_rollups
from evaluation.scorecard import MEASURES, NATIONAL
from shared.regions import scope_prefix
from shared.vocabulary import CST

GRANULARITIES = ("day", "week", "month")
Cell = tuple[str, date, str]  # scope id, day, category


def bucket(day: date, granularity: str) -> str:
    """The period a day falls in: the day, the Monday of its week, or its month."""
    if granularity == "week":
        return (day - timedelta(days=day.weekday())).isoformat()
    if granularity == "month":
        return day.strftime("%Y-%m")
    return day.isoformat()


def bucket_bounds(label: str, granularity: str) -> tuple[date, date]:
    if granularity == "month":
        first = date.fromisoformat(label + "-01")
        following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        return first, following - timedelta(days=1)
    start = date.fromisoformat(label)
    return start, start + timedelta(days=6 if granularity == "week" else 0)


def prefix_range(column: Any, prefix: str) -> Any:
    """``column`` starts with ``prefix``, as a range an index can serve on any collation."""
    if not prefix:
        return column.is_not(None)
    following = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return (column >= prefix) & (column < following)


def _where(
    scope: str,
    start: date,
    end: date,
    category: str | None,
    ids: list[str] | None,
    prefix: str | None,
) -> list[Any]:
    r = scorecard_rollups.c
    where = [r.scope == scope, r.day >= start, r.day <= end]
    if category is not None:
        where.append(r.category == category)
    if ids is not None:
        where.append(r.scope_id.in_(ids))
    if prefix is not None:
        where.append(prefix_range(r.scope_id, prefix))
    return where


async def totals(
    session: AsyncSession,
    scope: str,
    start: date,
    end: date,
    *,
    category: str | None = None,
    ids: list[str] | None = None,
    prefix: str | None = None,
) -> dict[str, dict[str, int]]:
    """Summed counters per scope id over the days of a period."""
    r = scorecard_rollups.c
    q = (
        select(r.scope_id, *(func.sum(r[m]).label(m) for m in MEASURES))
        .where(*_where(scope, start, end, category, ids, prefix))
        .group_by(r.scope_id)
    )
    rows = (await session.execute(q)).all()
    return {row.scope_id: {m: int(getattr(row, m) or 0) for m in MEASURES} for row in rows}


async def daily(
    session: AsyncSession,
    scope: str,
    scope_id: str,
    start: date,
    end: date,
    category: str | None = None,
) -> dict[date, dict[str, int]]:
    """Summed counters per day (over categories unless one is given)."""
    r = scorecard_rollups.c
    q = (
        select(r.day, *(func.sum(r[m]).label(m) for m in MEASURES))
        .where(*_where(scope, start, end, category, [scope_id], None))
        .group_by(r.day)
    )
    rows = (await session.execute(q)).all()
    return {row.day: {m: int(getattr(row, m) or 0) for m in MEASURES} for row in rows}


async def petitions(
    session: AsyncSession,
    ids: list[str],
    start: date,
    end: date,
    category: str | None = None,
) -> dict[Cell, int]:
    """Petitions per region, day and category (the situation's cube)."""
    r = scorecard_rollups.c
    q = select(r.scope_id, r.day, r.category, r.petitions).where(
        *_where("region", start, end, category, ids, None), r.petitions > 0
    )
    return {
        (row.scope_id, row.day, row.category): row.petitions for row in await session.execute(q)
    }


async def by_region(
    session: AsyncSession,
    ids: list[str],
    before: date,
    start: date,
    end: date,
    category: str | None = None,
) -> dict[str, tuple[dict[str, int], dict[str, int]]]:
    """Petitions per region and category in the period (from ``start``) and in the one
    before it (from ``before``)."""
    if not ids:
        return {}
    r = scorecard_rollups.c
    current = r.day >= start
    q = (
        select(r.scope_id, r.category, current.label("current"), func.sum(r.petitions))
        .where(*_where("region", before, end, category, ids, None))
        .group_by(r.scope_id, r.category, current)
    )
    out: dict[str, tuple[dict[str, int], dict[str, int]]] = {}
    for scope_id, cat, is_current, n in await session.execute(q):
        if n:
            out.setdefault(scope_id, ({}, {}))[0 if is_current else 1][cat] = int(n)
    return out


def rising(now: dict[str, int], before: dict[str, int], top: int) -> list[dict[str, Any]]:
    """Categories whose petitions grew most against the previous period of the same length:
    by the increase, then by the ratio (a category new in the period has none)."""
    out = []
    for category, count in now.items():
        previous = before.get(category, 0)
        if count > previous:
            out.append(
                {
                    "category": category or None,
                    "petitions": count,
                    "previous": previous,
                    "change": count - previous,
                    "ratio": round(count / previous, 4) if previous else None,
                }
            )
    out.sort(key=lambda x: (-x["change"], -(x["ratio"] or float("inf")), x["category"] or ""))
    return out[:top]


def by(cells: dict[Cell, int], key: Any) -> dict[Any, int]:
    out: dict[Any, int] = defaultdict(int)
    for cell, n in cells.items():
        out[key(cell)] += n
    return dict(out)


def cst_range(start: date, end: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, time(), CST),
        datetime.combine(end + timedelta(days=1), time(), CST),
    )


async def collectives(
    session: AsyncSession,
    region: str,
    start: date,
    end: date,
    category: str | None = None,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """Collective-petition clusters (case_reads.collective_id) with petitions received in the
    period in the region, the largest first."""
    c = case_reads.c
    received = c.received_at  # set by intake's event, which is what flags collectives
    low, high = cst_range(start, end)
    where = [c.collective_id.is_not(None), received >= low, received < high]
    if region != NATIONAL:
        where.append(prefix_range(c.region_code, scope_prefix(region)))
    if category is not None:
        where.append(c.category == category)
    q = (
        select(
            c.collective_id,
            func.count().label("petitions"),
            func.min(c.region_code).label("region_code"),
            func.min(c.category).label("category"),
            func.min(received).label("first"),
            func.max(received).label("last"),
        )
        .where(*where)
        .group_by(c.collective_id)
        .order_by(func.count().desc(), c.collective_id)
        .limit(limit)
    )
    return [
        {
            "collective_id": row.collective_id,
            "petitions": row.petitions,
            "region_code": row.region_code,
            "category": row.category,
            "first_received_at": _aware(row.first),
            "last_received_at": _aware(row.last),
        }
        for row in await session.execute(q)
    ]


async def themes(
    session: AsyncSession, region: str, start: date, end: date, category: str | None = None
) -> list[dict[str, Any]]:
    """Petitions per themed channel (专题通道) received in the period in the region, the
    busiest first: how many, how many the unit has accepted and answered, how many ended."""
    c = case_reads.c
    low, high = cst_range(start, end)
    where = [c.theme.is_not(None), c.received_at >= low, c.received_at < high]
    if region != NATIONAL:
        where.append(prefix_range(c.region_code, scope_prefix(region)))
    if category is not None:
        where.append(c.category == category)
    q = (
        select(
            c.theme,
            func.count().label("petitions"),
            func.count(c.accepted_at).label("accepted"),
            func.count(c.replied_at).label("replied"),
            func.count(c.concluded_at).label("concluded"),
        )
        .where(*where)
        .group_by(c.theme)
        .order_by(func.count().desc(), c.theme)
    )
    return [
        {
            "theme": row.theme,
            "petitions": row.petitions,
            "accepted": row.accepted,
            "replied": row.replied,
            "concluded": row.concluded,
        }
        for row in await session.execute(q)
    ]


RECEPTION_STATES = ("requested", "scheduled", "held", "no_show", "cancelled")


async def reception_counts(
    session: AsyncSession, region: str, start: date, end: date
) -> dict[str, int]:
    """Video receptions requested in the period in the region, by their state now (a
    reception proposed but not yet confirmed counts as requested)."""
    r = receptions.c
    low, high = cst_range(start, end)
    where = [r.requested_at >= low, r.requested_at < high]
    if region != NATIONAL:
        where.append(prefix_range(r.region_code, scope_prefix(region)))
    q = select(r.status, func.count().label("n")).where(*where).group_by(r.status)
    found = {row.status: row.n for row in await session.execute(q)}
    counts = {state: int(found.get(state, 0)) for state in RECEPTION_STATES}
    return {"total": sum(found.values())} | counts


def _aware(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):  # in case a driver hands an aggregate back as text
        value = datetime.fromisoformat(value)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


async def warnings(
    session: AsyncSession,
    region: str,
    start: date,
    end: date,
    category: str | None = None,
    limit: int = 200,
) -> list[dict[str, Any]]:
    w = analytics_warnings.c
    where = [w.day >= start, w.day <= end]
    if region != NATIONAL:
        where.append(prefix_range(w.region_code, scope_prefix(region)))
    if category is not None:
        where.append(w.category == category)
    q = select(analytics_warnings).where(*where).order_by(w.day.desc(), w.z_score.desc(), w.id)
    return [
        {
            "warning_id": row.id,
            "region_code": row.region_code,
            "region_level": row.region_level,
            "category": row.category or None,
            "day": row.day.isoformat(),
            "count": row.count,
            "baseline_days": row.baseline_days,
            "baseline_mean": row.baseline_mean,
            "baseline_sd": row.baseline_sd,
            "z_score": row.z_score,
            "threshold": row.threshold,
            "min_count": row.min_count,
            "raised_at": row.raised_at.isoformat(),
        }
        for row in await session.execute(q.limit(limit))
    ]
