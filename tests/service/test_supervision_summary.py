"""``GET /api/v1/supervision/summary`` against a real database (SQLite and PostgreSQL): the
counts the operator console shows (overdue cases, supervision by status and with its response
overdue), within the operator's region, and for operators only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.auth import mint_token
from shared.db import Database
from shared.service import install_http_basics
from tests.service.tracking_db import SETTINGS, add_case, empty, migrated_database, rows
from tracking.clocks import today_cst
from tracking.models import supervisions
from tracking.scheduler import scan
from tracking.supervision_api import router

URL = "/api/v1/supervision/summary"


def token(role: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(SETTINGS, role=role, sub="someone", **claims)}


OPERATOR = token("operator")
BEIJING = token("operator", region_code="110000")
HRSS = token("unit", unit_id="110107:hrss")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    async with migrated_database(request.param, tmp_path_factory.mktemp("summary")) as db:
        yield db


@pytest.fixture
async def api(migrated: Database) -> AsyncIterator[httpx.AsyncClient]:
    db = await empty(migrated)
    app = FastAPI()
    install_http_basics(app, "tracking")
    app.include_router(router)
    app.state.db, app.state.settings = db, SETTINGS
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tracking") as client:
        yield client


async def summary(api: httpx.AsyncClient, headers: dict[str, str], **params: str) -> Any:
    r = await api.get(URL, headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


async def test_overdue_cases_and_supervision_are_counted_within_the_region(
    api: httpx.AsyncClient, migrated: Database
) -> None:
    db = migrated
    # Beijing: two cases whose acceptance ran out (due 2025-03-18), one whose objection window
    # ran out (not the unit's duty), one with a deadline still ahead; Shanghai: one overdue
    for _ in range(2):
        await add_case(db)
    await add_case(db, clock="objection", days=5)
    await add_case(db, start=today_cst(datetime.now(UTC)))
    await add_case(db, unit_id="310101:hrss", region="310101")

    beijing = await summary(api, BEIJING)
    assert beijing["region_code"] == "110000"
    assert beijing["overdue"] == {"cases": 2, "clocks": {"acceptance": 2, "objection": 1}}
    assert beijing["supervision"] == {
        "open": 0,
        "responded": 0,
        "escalated": 0,
        "closed": 0,
        "response_overdue": 0,
    }
    everywhere = await summary(api, OPERATOR)
    assert everywhere["region_code"] is None and everywhere["overdue"]["cases"] == 3
    shanghai = await summary(api, OPERATOR, region="310101")
    assert shanghai["region_code"] == "310101" and shanghai["overdue"]["cases"] == 1

    # The scan of 2025-03-19 opens supervision, due 30 days later: long past by now
    await scan(db, SETTINGS, date(2025, 3, 19))
    beijing = await summary(api, BEIJING)
    assert beijing["supervision"]["open"] == 2 and beijing["supervision"]["response_overdue"] == 2
    assert beijing["overdue"]["clocks"]["supervision"] == 2
    assert beijing["overdue"]["cases"] == 2  # a case counts once, however many clocks run out

    first = min(r.id for r in await rows(db, supervisions) if r.unit_id == "110107:hrss")
    answer = {"text": "the case is accepted and a handler named"}
    responded = await api.post(f"/api/v1/supervision/{first}/response", json=answer, headers=HRSS)
    assert responded.status_code == 200, responded.text
    beijing = await summary(api, BEIJING)
    assert (beijing["supervision"]["open"], beijing["supervision"]["responded"]) == (1, 1)
    assert beijing["supervision"]["response_overdue"] == 1
    assert beijing["overdue"]["clocks"]["supervision"] == 1


async def test_only_operators_and_only_within_their_region(api: httpx.AsyncClient) -> None:
    outside = await api.get(URL, headers=BEIJING, params={"region": "310101"})
    assert outside.status_code == 403
    assert outside.headers["content-type"] == "application/problem+json"
    assert "110000" in outside.json()["detail"]
    assert (await api.get(URL, headers=BEIJING, params={"region": "000000"})).status_code == 403
    assert (await api.get(URL, headers=HRSS)).status_code == 403
    assert (await api.get(URL)).status_code == 401
    bad = await api.get(URL, headers=OPERATOR, params={"region": "11"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "query.region"
