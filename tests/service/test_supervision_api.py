"""Supervision and leader ownership over tracking's API, against a real database (SQLite and
PostgreSQL): who may open, see, answer and close supervision, the problems they get
otherwise, and what each step writes (record, clock, timeline, event)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from shared.auth import mint_token
from shared.db import Database
from shared.service import install_http_basics
from tests.service.tracking_db import (
    SETTINGS,
    add_case,
    empty,
    events,
    migrated_database,
    rows,
)
from tracking.models import cases, clocks, supervisions, timeline
from tracking.scheduler import scan
from tracking.supervision_api import router


def token(role: str, sub: str = "someone", **claims: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(SETTINGS, role=role, sub=sub, **claims)}


OPERATOR = token("operator", "op")
BEIJING = token("operator", "op-bj", region_code="110000")
SHANGHAI = token("operator", "op-sh", region_code="310000")
HRSS = token("unit", unit_id="110107:hrss")
BUREAU = token("unit", unit_id="110107:petition_bureau")
OTHER = token("unit", unit_id="110108:hrss")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    async with migrated_database(request.param, tmp_path_factory.mktemp("supervision")) as db:
        yield db


@pytest.fixture
async def db(migrated: Database) -> Database:
    return await empty(migrated)


@pytest.fixture
async def api(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_http_basics(app, "tracking")
    app.include_router(router)
    app.state.db, app.state.settings = db, SETTINGS
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tracking") as client:
        yield client


async def number_of(db: Database, case_id: str) -> str:
    return (await rows(db, cases, cases.c.id == case_id))[0].tracking_number


async def test_an_operator_opens_supervision_and_the_unit_answers(
    api: httpx.AsyncClient, db: Database
) -> None:
    case_id = await add_case(db, clock=None)
    number = await number_of(db, case_id)
    body = {"reason": "passing_the_buck", "note": "the case was pushed back twice"}

    url = f"/api/v1/cases/{number}/supervision"
    assert (await api.post(url, json=body, headers=HRSS)).status_code == 403
    assert (await api.post(url, json=body, headers=SHANGHAI)).status_code == 404  # not its region
    bad = await api.post(
        f"/api/v1/cases/{number}/supervision", json={**body, "reason": "late"}, headers=OPERATOR
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "reason"
    assert bad.headers["content-type"] == "application/problem+json"
    stranger = await api.post(
        f"/api/v1/cases/{number}/supervision",
        json={**body, "unit_id": "110108:hrss"},
        headers=OPERATOR,
    )
    assert stranger.status_code == 422 and stranger.json()["errors"][0]["field"] == "unit_id"

    opened = await api.post(f"/api/v1/cases/{number}/supervision", json=body, headers=BEIJING)
    assert opened.status_code == 201, opened.text
    sup = opened.json()
    assert (sup["unit_id"], sup["bureau_unit_id"], sup["status"]) == (
        "110107:hrss",
        "110107:petition_bureau",
        "open",
    )
    assert (sup["reason"], sup["level"], sup["measure"], sup["opened_by"]) == (
        "passing_the_buck",
        0,
        "supervision",
        "operator:op-bj",
    )
    again = await api.post(f"/api/v1/cases/{number}/supervision", json=body, headers=OPERATOR)
    assert again.status_code == 409 and again.json()["supervision_id"] == sup["id"]

    # Listed for operators of the region and for the two units concerned, not for others
    readers = ((OPERATOR, 1), (BEIJING, 1), (SHANGHAI, 0), (HRSS, 1), (BUREAU, 1), (OTHER, 0))
    for headers, seen in readers:
        listed = await api.get("/api/v1/supervision", headers=headers)
        assert listed.status_code == 200 and len(listed.json()["items"]) == seen, headers
    assert (await api.get(f"/api/v1/supervision/{sup['id']}", headers=OTHER)).status_code == 404

    respond = f"/api/v1/supervision/{sup['id']}/response"
    answer = {"text": "the unit has accepted the case and named a handler"}
    assert (await api.post(respond, json=answer, headers=OPERATOR)).status_code == 403
    assert (await api.post(respond, json=answer, headers=OTHER)).status_code == 404
    assert (await api.post(respond, json=answer, headers=BUREAU)).status_code == 404
    short = await api.post(respond, json={"text": "ok"}, headers=HRSS)
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "text"
    done = await api.post(respond, json=answer, headers=HRSS)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "responded" and done.json()["response"] == answer["text"]
    twice = await api.post(respond, json=answer, headers=HRSS)
    assert twice.status_code == 409 and twice.json()["supervision_status"] == "responded"

    (clock,) = await rows(db, clocks, clocks.c.supervision_id == sup["id"])
    assert clock.stopped_at is not None and clock.met is True
    types = [e["type"] for e in await events(db, case_id)]
    assert types == ["tracking.supervision.opened.v1", "tracking.supervision.responded.v1"]
    notes = await rows(db, timeline, timeline.c.case_id == case_id)
    assert [n.public for n in notes] == [False, False]  # supervision stays internal

    # The supervising bureau (or an operator) closes it once answered
    close = f"/api/v1/supervision/{sup['id']}/close"
    # the unit supervised sees the record, and may not close it
    assert (await api.post(close, headers=HRSS)).status_code == 403
    closed = await api.post(close, json={"note": "answer accepted"}, headers=BUREAU)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert (await api.post(close, headers=OPERATOR)).status_code == 409


async def test_lists_filter_and_page(api: httpx.AsyncClient, db: Database) -> None:
    for _ in range(3):
        await add_case(db)
    await add_case(db, unit_id="310101:hrss", region="310101")
    await scan(db, SETTINGS, date(2025, 3, 19))  # four overdue acceptance clocks
    seen, cursor = [], None
    while True:
        page = await api.get(
            "/api/v1/supervision",
            params={"limit": 2, "status": "open", **({"cursor": cursor} if cursor else {})},
            headers=OPERATOR,
        )
        assert page.status_code == 200
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 4 and len({s["id"] for s in seen}) == 4
    assert [s["id"] for s in seen] == sorted(s["id"] for s in seen)
    assert {s["reason"] for s in seen} == {"overdue"}
    beijing = (await api.get("/api/v1/supervision", headers=BEIJING)).json()["items"]
    assert {s["bureau_unit_id"] for s in beijing} == {"110107:petition_bureau"}
    by_unit = await api.get(
        "/api/v1/supervision", params={"bureau_unit_id": "310101:petition_bureau"}, headers=OPERATOR
    )
    assert [s["unit_id"] for s in by_unit.json()["items"]] == ["310101:hrss"]
    one = await api.get(
        "/api/v1/supervision",
        params={"tracking_number": seen[0]["tracking_number"]},
        headers=OPERATOR,
    )
    assert [s["id"] for s in one.json()["items"]] == [seen[0]["id"]]
    bad = await api.get("/api/v1/supervision", params={"status": "late"}, headers=OPERATOR)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"
    petitioner = token("petitioner", "p1")
    assert (await api.get("/api/v1/supervision", headers=petitioner)).status_code == 403


async def test_escalated_supervision_is_answered_at_its_successor(
    api: httpx.AsyncClient, db: Database
) -> None:
    await add_case(db)
    await scan(db, SETTINGS, date(2025, 3, 19))
    (first,) = await rows(db, supervisions)
    await scan(db, SETTINGS, date(2025, 4, 19))  # a day after its response was due
    late = await api.post(
        f"/api/v1/supervision/{first.id}/response",
        json={"text": "sorry, we answer now"},
        headers=HRSS,
    )
    assert late.status_code == 409
    successor = late.json()["escalated_to"]
    assert successor and successor in late.json()["detail"]
    answered = await api.post(
        f"/api/v1/supervision/{successor}/response",
        json={"text": "sorry, we answer now"},
        headers=HRSS,
    )
    assert answered.status_code == 200, answered.text
    body = answered.json()
    assert (body["bureau_unit_id"], body["level"], body["measure"]) == (
        "110000:petition_bureau",
        1,
        "talk",
    )
    assert body["escalated_from"] == first.id


async def test_a_leader_takes_charge_of_a_case(api: httpx.AsyncClient, db: Database) -> None:
    case_id = await add_case(db, clock=None)
    number = await number_of(db, case_id)
    url = f"/api/v1/cases/{number}/leader"
    leader = {"name": "王五", "title": "石景山区副区长"}
    assert (await api.post(url, json=leader, headers=HRSS)).status_code == 403
    assert (await api.post(url, json=leader, headers=SHANGHAI)).status_code == 404
    short = await api.post(url, json={"name": "王", "title": "副区长"}, headers=OPERATOR)
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "name"
    done = await api.post(url, json=leader, headers=BEIJING)
    assert done.status_code == 200, done.text
    assert done.json()["leader"] == leader
    await api.post(url, json={"name": "赵六", "title": "石景山区区长"}, headers=OPERATOR)
    (case,) = await rows(db, cases, cases.c.id == case_id)
    assert (case.leader_name, case.leader_title) == ("赵六", "石景山区区长")
    notes = [n.note for n in await rows(db, timeline, timeline.c.case_id == case_id)]
    assert notes[-1] == "leader ownership (领导包案): 石景山区区长 赵六 (was 石景山区副区长 王五)"
    nobody = "/api/v1/cases/11010725030399999X/leader"
    assert (await api.post(nobody, json=leader, headers=OPERATOR)).status_code == 404
