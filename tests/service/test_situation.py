"""The situation (形势网上判), early warnings and the backlog sweep, on SQLite and PostgreSQL:
petitions by category, region and period with the categories rising most, collective
clusters, a warning raised once per region, category and day (with its event), and an open
case becoming a backlog case on the day after its 90th day, with no event to say so."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from evaluation.analytics_api import router
from evaluation.models import messaging, scorecard_rollups
from evaluation.rollups import Analytics
from evaluation.sweeper import sweep
from shared.auth import mint_token
from shared.contracts import (
    ReceptionCancelled,
    ReceptionHeld,
    ReceptionRequested,
    ReceptionScheduled,
)
from shared.db import Database
from shared.events import new_envelope, parse_data
from shared.service import install_http_basics
from tests.service.analytics_story import (
    SETTINGS,
    Case,
    at,
    consumer_handlers,
    d,
    empty,
    feed,
    migrated_database,
)

OPERATOR = {"Authorization": "Bearer " + mint_token(SETTINGS, role="operator", sub="op")}
SHANGHAI = {
    "Authorization": "Bearer "
    + mint_token(SETTINGS, role="operator", sub="sh", region_code="310000")
}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    async with migrated_database(request.param, tmp_path_factory.mktemp("situation")) as db:
        yield db


@pytest.fixture
async def db(migrated: Database) -> Database:
    return await empty(migrated)


@pytest.fixture
async def api(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_http_basics(app, "evaluation")
    app.include_router(router)
    app.state.db, app.state.settings = db, SETTINGS
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://evaluation") as client:
        yield client


def petitions(n: int, day: Any, region: str, category: str, **kw: Any) -> list[Case]:
    return [Case(day, region=region, category=category, **kw) for _ in range(n)]


def submitted(cases: list[Case]) -> list[Any]:
    """Only intake's events: the situation counts petitions as they are submitted."""
    return [c.events[0] for c in cases]


async def test_situation_of_a_month_against_the_one_before(
    db: Database, api: httpx.AsyncClient
) -> None:
    april = petitions(2, d(4, 8), "110107011", "wage_arrears")
    april += petitions(1, d(4, 9), "110108", "pollution")
    may = petitions(3, d(5, 6), "110107011", "wage_arrears")
    may += petitions(2, d(5, 7), "110107", "pollution")
    group = petitions(2, d(5, 12), "110108", "pollution", collective_id="col-1")
    late = Case(d(5, 12), region="110108", category="pollution").flagged("col-1", d(5, 13))
    may += [*group, late, Case(d(5, 20), region="110108", category="pollution")]
    outcomes = await feed(
        db, consumer_handlers(d(6, 1)), submitted(april + may) + [late.events[-1]]
    )
    assert outcomes["applied"] == 13

    r = await api.get(
        "/api/v1/analytics/situation",
        params={
            "region": "110000",
            "from": "2025-05-01",
            "to": "2025-05-31",
            "granularity": "month",
        },
        headers=OPERATOR,
    )
    assert r.status_code == 200, r.text
    s = r.json()
    assert (s["name"], s["level"], s["petitions"]) == ("北京市", "province", 9)
    assert s["by_category"] == [
        {"category": "pollution", "petitions": 6},
        {"category": "wage_arrears", "petitions": 3},
    ]
    assert s["series"] == [{"period": "2025-05", "petitions": 9}]
    assert s["rising"] == [
        {"category": "pollution", "petitions": 6, "previous": 1, "change": 5, "ratio": 6.0},
        {"category": "wage_arrears", "petitions": 3, "previous": 2, "change": 1, "ratio": 1.5},
    ]
    regions = {x["region_code"]: x for x in s["by_region"]}
    assert len(regions) == 16  # Beijing's districts
    assert (regions["110107"]["name"], regions["110107"]["petitions"]) == ("石景山区", 5)
    assert regions["110107"]["rising"][0]["category"] == "pollution"  # 0 -> 2 beats 2 -> 3
    assert regions["110108"]["rising"] == [
        {"category": "pollution", "petitions": 4, "previous": 1, "change": 3, "ratio": 4.0}
    ]
    [cluster] = s["collectives"]
    assert (cluster["collective_id"], cluster["petitions"], cluster["region_code"]) == (
        "col-1",
        3,
        "110108",
    )
    days = await api.get(
        "/api/v1/analytics/situation",
        params={"region": "110108", "from": "2025-05-01", "to": "2025-05-31"},
        headers=OPERATOR,
    )
    assert days.json()["series"] == [
        {"period": "2025-05-12", "petitions": 3},
        {"period": "2025-05-20", "petitions": 1},
    ]
    assert days.json()["by_region"] == []  # townships are counted in their county
    refused = await api.get(
        "/api/v1/analytics/situation", params={"region": "110000"}, headers=SHANGHAI
    )
    assert refused.status_code == 403


async def outbox_warnings(db: Database) -> list[dict[str, Any]]:
    o = messaging.outbox
    async with db.sessions() as s:
        rows = (await s.execute(select(o).order_by(o.c.id))).all()
    return [json.loads(r.value) for r in rows if r.type == "evaluation.warning.raised.v1"]


async def test_a_warning_is_raised_once_per_region_category_and_day(
    db: Database, api: httpx.AsyncClient
) -> None:
    today = d(6, 2)
    settings = SETTINGS.model_copy(update={"warning_baseline_days": 7})
    quiet = [
        c
        for i in (7, 5, 3, 1)
        for c in petitions(1, today - timedelta(days=i), "110107", "pollution")
    ]
    steady = [
        c
        for i in range(7, -1, -1)  # as they come: the oldest first
        for c in petitions(5, today - timedelta(days=i), "110108", "wage_arrears")
    ]
    old = petitions(8, today - timedelta(days=10), "110105", "health")  # a burst, but long ago
    handlers = consumer_handlers(today, settings)
    assert (await feed(db, handlers, submitted(quiet + steady + old)))["applied"] == 4 + 40 + 8
    assert await outbox_warnings(db) == []  # steady: z = 0 (sd 0, floored at 1); old: not today

    burst = petitions(7, today, "110107011", "pollution")
    await feed(db, handlers, submitted(burst[:4]))
    assert await outbox_warnings(db) == []  # 4 petitions: under the minimum of 5
    await feed(db, handlers, submitted(burst[4:]))
    raised = await outbox_warnings(db)
    # 110107: 4 of the 7 days with 1 -> mean 0.5714, sd 0.4949, z = (5 - 0.5714) / 1 = 4.4286
    assert sorted(
        (e["subject"], e["data"]["region_level"], e["data"]["count"]) for e in raised
    ) == [
        ("000000", "national", 5),
        ("110000", "province", 5),
        ("110107", "county", 5),
    ]
    county = next(e["data"] for e in raised if e["subject"] == "110107")
    assert (county["category"], county["day"], county["baseline_days"]) == (
        "pollution",
        "2025-06-02",
        7,
    )
    assert (county["baseline_mean"], county["baseline_sd"], county["z_score"]) == (
        0.5714,
        0.4949,
        4.4286,
    )
    assert (county["threshold"], county["min_count"]) == (3.0, 5)

    listed = await api.get(
        "/api/v1/analytics/warnings",
        params={"region": "110000", "from": "2025-06-01", "to": "2025-06-02"},
        headers=OPERATOR,
    )
    # inside Beijing: the country's own warning is not Beijing's
    assert sorted((w["region_code"], w["count"]) for w in listed.json()["items"]) == [
        ("110000", 5),
        ("110107", 5),
    ]
    assert (await api.get("/api/v1/analytics/warnings", headers=SHANGHAI)).json()["items"] == []


async def rollup_rows(db: Database) -> set[tuple[Any, ...]]:
    async with db.sessions() as s:
        return {tuple(r) for r in (await s.execute(select(scorecard_rollups))).all() if any(r[4:])}


async def test_an_open_case_becomes_a_backlog_case_after_90_days(db: Database) -> None:
    case = Case(d(3, 1)).routed("110107:hrss", d(3, 1), d(3, 16)).accepted(d(3, 3), d(5, 2))
    closed = Case(d(3, 1)).routed("110107:hrss", d(3, 1), d(3, 16)).status("not_accepted", d(3, 2))
    await feed(db, consumer_handlers(d(3, 10)), case.events + closed.events)
    ctx = Analytics(SETTINGS)

    async def backlog() -> int:
        async with db.sessions() as s:
            q = select(scorecard_rollups.c.backlog).where(scorecard_rollups.c.scope_id == "110107")
            return sum(r.backlog for r in (await s.execute(q)).all())

    assert await sweep(db, ctx, d(5, 30)) == 0 and await backlog() == 0  # 90 days: not yet
    assert await sweep(db, ctx, d(5, 31)) == 1 and await backlog() == 1  # only the open one
    assert await sweep(db, ctx, d(6, 30)) == 0 and await backlog() == 1  # counted once
    swept = await rollup_rows(db)
    # the same as applying the events on 31 May in the first place
    await empty(db)
    await feed(db, consumer_handlers(d(5, 31)), case.events + closed.events)
    assert await rollup_rows(db) == swept


async def test_themed_channels_proactive_cases_and_receptions_in_the_situation(
    db: Database, api: httpx.AsyncClient
) -> None:
    """Channel petitions count as petitions and per channel; a grid worker's report counts
    apart; receptions count by their state now, each once however often its events come."""
    may = d(5, 6)
    flood = petitions(2, may, "110107011", "social_assistance", theme="flood-2025")
    plain = petitions(1, may, "110107011", "wage_arrears")
    grid = petitions(1, may, "110107011", "safety_hazard", proactive=True)
    grid[0].routed("110107:emergency", may, may + timedelta(days=15))
    grid[0].accepted(may, may + timedelta(days=60))
    grid[0].replied(may + timedelta(days=2))
    events = [e for c in flood + plain for e in c.events] + grid[0].events

    def reception(case: Any, *later: Any) -> list[Any]:
        rid = str(uuid.uuid4())
        base = {
            "reception_id": rid,
            "case_id": case.id,
            "tracking_number": case.number,
            "unit_id": "110107:petition_bureau",
            "region_code": case.region,
        }
        out = [ReceptionRequested(**base, requested_by="petitioner", requested_at=at(may, 11))]
        units = ["110107:petition_bureau", "110107:civil_affairs"]
        for step in later:
            if step == "scheduled":
                out.append(
                    ReceptionScheduled(
                        **base,
                        unit_ids=units,
                        starts_at=at(may + timedelta(days=2), 10),
                        ends_at=at(may + timedelta(days=2), 11),
                        meeting_url=f"https://meeting.invalid/xinfang/{rid}",
                        scheduled_at=at(may, 12),
                    )
                )
            elif step == "held":
                out.append(
                    ReceptionHeld(
                        **base,
                        unit_ids=units,
                        outcome="held",
                        starts_at=at(may + timedelta(days=2), 10),
                        summary="已接访",
                        recorded_at=at(may + timedelta(days=2), 11),
                    )
                )
            else:
                out.append(
                    ReceptionCancelled(
                        **base,
                        unit_ids=[],
                        reason="问题已解决",
                        cancelled_by="petitioner",
                        cancelled_at=at(may, 15),
                    )
                )
        return [new_envelope(x, subject=case.id, correlation_id=case.id) for x in out]

    held = reception(flood[0], "scheduled", "held")
    events += held + reception(flood[1], "cancelled") + reception(plain[0], "scheduled")
    handlers = consumer_handlers(d(5, 31))
    await feed(db, handlers, events)
    # The held one's schedule and record sent again (a producer's retry: new event ids, so
    # the inbox cannot tell) change nothing
    again = [
        new_envelope(parse_data(e), subject=e.subject, correlation_id=e.subject) for e in held[1:]
    ]
    await feed(db, handlers, again)

    r = await api.get(
        "/api/v1/analytics/situation",
        params={"region": "110107", "from": "2025-05-01", "to": "2025-05-31"},
        headers=OPERATOR,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["petitions"] == 3  # the grid worker's report is not a petition
    assert body["themes"] == [
        {"theme": "flood-2025", "petitions": 2, "accepted": 0, "replied": 0, "concluded": 0}
    ]
    assert body["proactive"] == {"registered": 1, "replied": 1, "concluded": 0}
    assert body["receptions"] == {
        "total": 3,
        "requested": 0,
        "scheduled": 1,
        "held": 1,
        "no_show": 0,
        "cancelled": 1,
    }
    # The scorecard of the county says the same
    r = await api.get(
        "/api/v1/analytics/scorecards",
        params={"region": "110107", "from": "2025-05-01", "to": "2025-05-31"},
        headers=OPERATOR,
    )
    card = r.json()["scorecards"][0]
    assert (card["cases_received"], card["themed_petitions"]) == (3, 2)
    assert (card["proactive_cases"], card["proactive_resolution_rate"]) == (1, 1.0)
