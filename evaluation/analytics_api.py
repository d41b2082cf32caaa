"""Analytics for operators and analysts: unit and region scorecards, the situation (形势网上
判), early warnings and trends, as JSON or, with ``Accept: text/csv``, as CSV.

Who sees what: a unit (unit token) its own scorecard and trends only; an operator every
region and unit within the ``region_code`` claim of the token (all without one).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from evaluation import queries
from evaluation.analytics_access import Reader, csv_or_json, period, reader, wants_csv
from evaluation.scorecard import MEASURES, NATIONAL, figures, region_level
from shared.calendar import IsoDay
from shared.errors import Invalid
from shared.regions import RegionDirectory

router = APIRouter(prefix="/api/v1/analytics", tags=["analytics"])

RegionQ = Annotated[
    str | None, Query(pattern=r"^\d{6}(\d{3}){0,2}$", description="region code (000000: all)")
]
UnitQ = Annotated[str | None, Query(max_length=100, description="unit id, e.g. 110107:hrss")]
CategoryQ = Annotated[str | None, Query(max_length=50, description="category code")]
FromQ = Annotated[IsoDay | None, Query(alias="from", description="first day (China time)")]
ToQ = Annotated[IsoDay | None, Query(description="last day (China time), default today")]
GranularityQ = Annotated[str, Query(pattern="^(day|week|month)$")]
FIGURES = (
    "cases_received",
    "rating_rate",
    "satisfaction_rate",
    "on_time_acceptance_rate",
    "on_time_reply_rate",
    "average_handling_days",
    "extension_rate",
    "repeat_petition_rate",
    "backlog_cases",
    "backlog_resolution_rate",
    "supervisions",
    "themed_petitions",
    "proactive_cases",
    "proactive_resolution_rate",
)


def _name(scope: str, scope_id: str) -> tuple[str | None, str]:
    if scope == "unit":
        return None, "unit"
    if scope_id == NATIONAL:
        return "全国", "national"
    region = RegionDirectory.default().get(scope_id)
    return (region.name if region else None), region_level(scope_id)


def _card(scope: str, scope_id: str, sums: dict[str, int]) -> dict[str, Any]:
    name, level = _name(scope, scope_id)
    return {"scope": scope, "id": scope_id, "name": name, "level": level, **figures(sums)}


def _flat(card: dict[str, Any]) -> dict[str, Any]:
    """A scorecard as one CSV row: its figures, then every counter."""
    return {k: v for k, v in card.items() if k != "counts"} | card["counts"]


@router.get("/scorecards", summary="Scorecards of a unit, a region, or a region's parts")
async def scorecards(
    request: Request,
    who: Annotated[Reader, Depends(reader)],
    region: RegionQ = None,
    unit: UnitQ = None,
    category: CategoryQ = None,
    from_: FromQ = None,
    to: ToQ = None,
    breakdown: Annotated[str, Query(pattern="^(none|children|units)$")] = "none",
) -> Any:
    scope, scope_id = who.scope(region, unit)
    start, end = period(from_, to, year=True)
    if breakdown != "none" and scope == "unit":
        raise Invalid("breakdown", "a unit's scorecard has no parts")
    async with request.app.state.db.sessions() as s:
        if breakdown == "children":
            ids = _children(scope_id)
            sums = await queries.totals(s, "region", start, end, category=category, ids=ids)
            cards = [_card("region", i, sums.get(i, {})) for i in ids]
        elif breakdown == "units":
            if scope_id == NATIONAL:
                raise Invalid("breakdown", "list the units of a province or a smaller region")
            prefix = who.prefix(scope_id)
            sums = await queries.totals(s, "unit", start, end, category=category, prefix=prefix)
            cards = [
                _card("unit", i, sums[i])
                for i in sorted(sums)
                if who.sees_unit(i) and any(sums[i].values())  # units that had cases
            ]
        else:
            sums = await queries.totals(s, scope, start, end, category=category, ids=[scope_id])
            cards = [_card(scope, scope_id, sums.get(scope_id, {}))]
    body = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "category": category,
        "scorecards": cards,
    }
    columns = ["scope", "id", "name", "level", *FIGURES, *MEASURES]
    return csv_or_json(request, body, [_flat(c) for c in cards], columns, "scorecards")


def _children(key: str) -> list[str]:
    """The regions one level down that the rollups keep (townships count in their county)."""
    directory = RegionDirectory.default()
    if key == NATIONAL:
        return sorted(r.short for r in directory if r.level == "province")
    return [r.short for r in directory.children(key) if r.level != "township"]


@router.get("/trends", summary="A scorecard's figures period by period")
async def trends(
    request: Request,
    who: Annotated[Reader, Depends(reader)],
    region: RegionQ = None,
    unit: UnitQ = None,
    category: CategoryQ = None,
    from_: FromQ = None,
    to: ToQ = None,
    granularity: GranularityQ = "month",
) -> Any:
    scope, scope_id = who.scope(region, unit)
    start, end = period(from_, to, year=True)
    async with request.app.state.db.sessions() as s:
        days = await queries.daily(s, scope, scope_id, start, end, category)
    buckets: dict[str, dict[str, int]] = {}
    day = start
    while day <= end:
        label = queries.bucket(day, granularity)
        sums = buckets.setdefault(label, {})
        for m, v in days.get(day, {}).items():
            sums[m] = sums.get(m, 0) + v
        day += timedelta(days=1)
    series = []
    for label, sums in buckets.items():
        first, last = queries.bucket_bounds(label, granularity)
        series.append(
            {
                "period": label,
                "from": max(first, start).isoformat(),
                "to": min(last, end).isoformat(),
            }
            | figures(sums)
        )
    body = {"scope": scope, "id": scope_id, "granularity": granularity, "category": category}
    body |= {"from": start.isoformat(), "to": end.isoformat(), "series": series}
    columns = ["period", "from", "to", *FIGURES, *MEASURES]
    return csv_or_json(request, body, [_flat(p) for p in series], columns, "trends")


@router.get("/situation", summary="Petitions by category, region and period; rising categories")
async def situation(
    request: Request,
    who: Annotated[Reader, Depends(reader)],
    region: RegionQ = None,
    category: CategoryQ = None,
    from_: FromQ = None,
    to: ToQ = None,
    granularity: GranularityQ = "day",
    top: Annotated[int, Query(ge=1, le=50)] = 5,
) -> Any:
    key = who.region(region)
    start, end = period(from_, to, year=False)
    before = start - timedelta(days=(end - start).days + 1)
    children = _children(key)
    csv = wants_csv(request)
    async with request.app.state.db.sessions() as s:
        own = await queries.petitions(s, [key], before, end, category)
        parts = await queries.by_region(s, children, before, start, end, category)
        clusters = await queries.collectives(s, key, start, end, category)
        channels = await queries.themes(s, key, start, end, category)
        sums = (await queries.totals(s, "region", start, end, category=category, ids=[key])).get(
            key, {}
        )
        held = await queries.reception_counts(s, key, start, end)
        cube = await queries.petitions(s, children or [key], start, end, category) if csv else {}
    now = {c: n for c, n in own.items() if c[1] >= start}
    by_category = queries.by(now, lambda c: c[2])
    previous = queries.by({c: n for c, n in own.items() if c[1] < start}, lambda c: c[2])
    series = queries.by(now, lambda c: queries.bucket(c[1], granularity))
    by_region = []
    for child in children:
        current, earlier = parts.get(child, ({}, {}))
        name, level = _name("region", child)
        by_region.append(
            {"region_code": child, "name": name, "level": level}
            | {"petitions": sum(current.values()), "rising": queries.rising(current, earlier, 1)}
        )
    name, level = _name("region", key)
    body = {
        "region_code": key,
        "name": name,
        "level": level,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "granularity": granularity,
        "category": category,
        "petitions": sum(by_category.values()),
        "by_category": [
            {"category": c or None, "petitions": n}
            for c, n in sorted(by_category.items(), key=lambda x: (-x[1], x[0]))
        ],
        "by_region": by_region,
        "series": [{"period": p, "petitions": n} for p, n in sorted(series.items())],
        "rising": queries.rising(by_category, previous, top),
        "collectives": clusters,
        # petitions through themed channels (专题通道); they count in the figures above too
        "themes": channels,
        # problems grid workers registered on rounds (源头化解): not in the petitions above
        "proactive": {
            "registered": sums.get("proactive", 0),
            "replied": sums.get("proactive_replied", 0),
            "concluded": sums.get("proactive_concluded", 0),
        },
        "receptions": held,
    }
    rows = queries.by(cube, lambda c: (queries.bucket(c[1], granularity), c[0], c[2]))
    csv_rows = [
        {"period": p, "region_code": r, "category": c, "petitions": n}
        for (p, r, c), n in sorted(rows.items())
    ]
    return csv_or_json(
        request, body, csv_rows, ["period", "region_code", "category", "petitions"], "situation"
    )


@router.get("/warnings", summary="Early warnings raised in a region")
async def warnings(
    request: Request,
    who: Annotated[Reader, Depends(reader)],
    region: RegionQ = None,
    category: CategoryQ = None,
    from_: FromQ = None,
    to: ToQ = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Any:
    key = who.region(region)
    start, end = period(from_, to, year=False)
    async with request.app.state.db.sessions() as s:
        items = await queries.warnings(s, key, start, end, category, limit)
    body = {"region_code": key, "from": start.isoformat(), "to": end.isoformat(), "items": items}
    columns = list(items[0]) if items else ["warning_id", "region_code", "category", "day"]
    return csv_or_json(request, body, items, columns, "warnings")
