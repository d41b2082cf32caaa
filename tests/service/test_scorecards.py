"""Scorecards to the exact figure (SQLite and PostgreSQL): the March cases of
``analytics_story.march()`` fed as real envelopes through evaluation's consumer path, once in
order and once shuffled as Kafka may deliver them across topics with redeliveries, give the
same rollups; every figure of the unit's, county's, province's and country's scorecard is
asserted; and the API shows each reader only what their token allows, as JSON or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from evaluation.analytics_api import router
from evaluation.models import scorecard_rollups
from evaluation.rollups import Analytics
from evaluation.sweeper import sweep
from shared.auth import mint_token
from shared.db import Database
from shared.service import install_http_basics
from tests.service.analytics_story import (
    BEIJING_FIGURES,
    HRSS,
    NATIONAL_FIGURES,
    SETTINGS,
    TODAY,
    UNIT_COUNTS,
    UNIT_FIGURES,
    consumer_handlers,
    empty,
    feed,
    in_order,
    march,
    migrated_database,
    shuffled,
)


def token(role: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(SETTINGS, role=role, sub="someone", **claims)}


OPERATOR = token("operator")
BEIJING = token("operator", region_code="110000")
SHANGHAI = token("operator", region_code="310000")
UNIT = token("unit", unit_id=HRSS)
MARCH = {"from": "2025-03-01", "to": "2025-03-31"}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    async with migrated_database(request.param, tmp_path_factory.mktemp("scorecards")) as db:
        yield db


async def rollups(db: Database) -> set[tuple[Any, ...]]:
    """Every non-empty rollup row."""
    async with db.sessions() as s:
        rows = (await s.execute(select(scorecard_rollups))).all()
    return {tuple(r) for r in rows if any(r[4:])}


async def fed(db: Database, envelopes: list[Any]) -> Database:
    await empty(db)
    outcomes = await feed(db, consumer_handlers(TODAY), envelopes)
    assert outcomes["dead_lettered"] == 0
    await sweep(db, Analytics(SETTINGS), TODAY)
    return db


@pytest.fixture(scope="module")
async def db(migrated: Database) -> Database:
    """Fed once per module (the tests below only read, but the last one feeds it again)."""
    return await fed(migrated, in_order(list(march().values())))


@pytest.fixture(scope="module")
async def api(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_http_basics(app, "evaluation")
    app.include_router(router)
    app.state.db, app.state.settings = db, SETTINGS
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://evaluation") as client:
        yield client


async def card(api: httpx.AsyncClient, headers=OPERATOR, **params: str) -> dict[str, Any]:
    r = await api.get("/api/v1/analytics/scorecards", params=MARCH | params, headers=headers)
    assert r.status_code == 200, r.text
    [one] = r.json()["scorecards"]
    return one


def figures_of(c: dict[str, Any]) -> dict[str, Any]:
    return {k: c[k] for k in UNIT_FIGURES}


async def test_every_figure_of_the_unit_and_its_regions(api: httpx.AsyncClient) -> None:
    unit = await card(api, unit=HRSS)
    assert (unit["scope"], unit["id"]) == ("unit", HRSS)
    assert figures_of(unit) == UNIT_FIGURES
    assert unit["counts"] == UNIT_COUNTS
    county = await card(api, region="110107")
    assert (county["name"], county["level"]) == ("石景山区", "county")
    assert figures_of(county) == UNIT_FIGURES  # every case of the county went to hrss
    assert figures_of(await card(api, region="110000")) == BEIJING_FIGURES
    assert figures_of(await card(api, region="000000")) == NATIONAL_FIGURES
    hebei = await card(api, region="130100")  # 石家庄市: the prefecture level
    assert (hebei["level"], hebei["cases_received"], hebei["counts"]["concluded"]) == (
        "prefecture",
        1,
        1,
    )
    assert hebei["on_time_acceptance_rate"] is None  # withdrawn before any decision
    # the unit that objected keeps nothing of the case it gave away
    assert (await card(api, unit="110107:housing"))["cases_received"] == 0
    wages = await card(api, unit=HRSS, category="wage_arrears")  # h is a labour dispute
    assert (wages["cases_received"], wages["average_handling_days"]) == (7, 56.67)
    april = await card(api, region="110107", **{"from": "2025-04-01", "to": "2025-04-30"})
    assert (april["cases_received"], april["counts"]["petitions"]) == (0, 1)  # g, a repeat


async def test_breakdowns_list_regions_and_units(api: httpx.AsyncClient) -> None:
    r = await api.get(
        "/api/v1/analytics/scorecards", params=MARCH | {"breakdown": "children"}, headers=OPERATOR
    )
    provinces = {c["id"]: c["cases_received"] for c in r.json()["scorecards"]}
    assert len(provinces) >= 31 and provinces["110000"] == 9 and provinces["130000"] == 1
    r = await api.get(
        "/api/v1/analytics/scorecards", params=MARCH | {"breakdown": "units"}, headers=BEIJING
    )
    assert [(c["id"], c["cases_received"]) for c in r.json()["scorecards"]] == [
        ("110107:hrss", 8),
        ("110108:hrss", 1),
    ]


async def test_each_reader_sees_only_what_the_token_allows(api: httpx.AsyncClient) -> None:
    url = "/api/v1/analytics/scorecards"
    own = await api.get(url, params=MARCH, headers=UNIT)
    assert own.status_code == 200 and own.json()["scorecards"][0]["id"] == HRSS
    for params in ({"unit": "110108:hrss"}, {"region": "110107"}):
        r = await api.get(url, params=MARCH | params, headers=UNIT)
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    for path in ("situation", "warnings"):
        assert (await api.get(f"/api/v1/analytics/{path}", headers=UNIT)).status_code == 403
    assert (await card(api, BEIJING))["id"] == "110000"  # the token's region by default
    assert (await api.get(url, params={"region": "110000"}, headers=SHANGHAI)).status_code == 403
    assert (await api.get(url, params={"unit": HRSS}, headers=SHANGHAI)).status_code == 403
    assert (await api.get(url, params={"region": "000000"}, headers=BEIJING)).status_code == 403
    assert (await api.get(url, headers=token("petitioner"))).status_code == 403
    bad = await api.get(url, params={"from": "2025-04-01", "to": "2025-03-01"}, headers=OPERATOR)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "from"
    unknown = await api.get(url, params={"region": "999999"}, headers=OPERATOR)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "region"


async def test_csv_of_each_endpoint(api: httpx.AsyncClient) -> None:
    accept = OPERATOR | {"Accept": "text/csv"}
    r = await api.get("/api/v1/analytics/scorecards", params=MARCH | {"unit": HRSS}, headers=accept)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert (row["id"], row["cases_received"], row["average_handling_days"]) == (HRSS, "8", "44.75")
    assert row["handling_days"] == "179"
    for path, params in (
        ("trends", {"region": "110107"}),
        ("situation", {"region": "110000"}),
        ("warnings", {}),
    ):
        r = await api.get(f"/api/v1/analytics/{path}", params=MARCH | params, headers=accept)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), path
        assert next(csv.reader(io.StringIO(r.text.lstrip("\ufeff"))))  # a header row
    r = await api.get(
        "/api/v1/analytics/situation",
        params=MARCH | {"region": "110000", "granularity": "month"},
        headers=accept,
    )
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    assert {(x["period"], x["region_code"], x["category"], x["petitions"]) for x in rows} == {
        ("2025-03", "110107", "wage_arrears", "7"),
        ("2025-03", "110107", "labour_dispute", "1"),
        ("2025-03", "110108", "wage_arrears", "1"),
    }


async def test_trends_by_month(api: httpx.AsyncClient) -> None:
    r = await api.get(
        "/api/v1/analytics/trends",
        params={"unit": HRSS, "from": "2025-03-01", "to": "2025-05-31"},
        headers=UNIT,
    )
    assert r.status_code == 200, r.text
    series = r.json()["series"]
    assert [p["period"] for p in series] == ["2025-03", "2025-04", "2025-05"]
    assert {k: series[0][k] for k in UNIT_FIGURES} == UNIT_FIGURES
    assert series[1]["cases_received"] == 0 and series[1]["average_handling_days"] is None
    weeks = await api.get(
        "/api/v1/analytics/trends",
        params=MARCH | {"region": "110107", "granularity": "week"},
        headers=OPERATOR,
    )
    by_week = {p["period"]: p["cases_received"] for p in weeks.json()["series"]}
    # Mondays: 3 March (a b c, 3-5), 10 March (d x, 10-11), 17 March (e f h, 18-20)
    assert by_week == {
        "2025-02-24": 0,
        "2025-03-03": 3,
        "2025-03-10": 2,
        "2025-03-17": 3,
        "2025-03-24": 0,
        "2025-03-31": 0,
    }
    assert weeks.json()["series"][0]["from"] == "2025-03-01"  # clipped to the period


async def test_shuffled_and_redelivered_events_give_the_same_rollups(db: Database) -> None:
    """Last: it feeds the module's database again, to the same rollups."""
    expected = await rollups(db)
    assert await rollups(await fed(db, shuffled(list(march().values()), seed=7))) == expected
