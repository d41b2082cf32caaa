"""Ratings and call-backs over evaluation's API, against a real database (SQLite and
PostgreSQL): who may rate and read, the 201/200/409 of a rating and its change, the 409s of
cases never rated, and the call-back a dissatisfied rating opens, cancels or gets done."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from evaluation.callbacks_api import router as callbacks_router
from evaluation.models import callbacks, ratings
from evaluation.ratings_api import router as ratings_router
from evaluation.ratings_store import Writer
from shared.auth import mint_token
from shared.db import Database
from shared.lookup import QueryCodeGate
from shared.service import install_http_basics
from tests.service.ratings_db import (
    QUERY_CODE,
    SETTINGS,
    add_case,
    empty,
    events,
    migrated_database,
    rows,
)


def token(role: str, sub: str = "someone", **claims: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(SETTINGS, role=role, sub=sub, **claims)}


OWNER = token("petitioner", "owner-1")
STRANGER = token("petitioner", "owner-2")
HRSS = token("unit", "clerk-7", unit_id="110107:hrss")
OTHER = token("unit", unit_id="110108:hrss")
OPERATOR = token("operator", "op")
SHANGHAI = token("operator", "op-sh", region_code="310000")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    async with migrated_database(request.param, tmp_path_factory.mktemp("ratings-api")) as db:
        yield db


@pytest.fixture
async def db(migrated: Database) -> Database:
    return await empty(migrated)


@pytest.fixture
async def api(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_http_basics(app, "evaluation")
    app.include_router(ratings_router)
    app.include_router(callbacks_router)
    app.state.db, app.state.settings = db, SETTINGS
    app.state.gate = QueryCodeGate(1000)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://evaluation") as client:
        yield client


async def accepted_case(db: Database, **facts: Any) -> Any:
    """A case accepted just now, its acceptance window opened as the handler opens it."""
    case = await add_case(db, accepted_at=datetime.now(UTC), **facts)
    async with db.transaction() as s:
        await Writer(s, SETTINGS, "svc").open_window(
            case, "acceptance", case.accepted_at, case.unit_id
        )
    return case


def rate(
    api: httpx.AsyncClient, number: str, headers: dict[str, str] | None = None, **body: Any
) -> Any:
    body = {"moment": "acceptance", "level": "satisfied", **body}
    return api.post(f"/api/v1/cases/{number}/rating", json=body, headers=headers or {})


async def test_the_owner_rates_then_changes_within_24_hours(
    api: httpx.AsyncClient, db: Database
) -> None:
    case = await accepted_case(db)
    number = case.tracking_number
    before = (await api.get(f"/api/v1/cases/{number}/rating", headers=OWNER)).json()
    assert before["eligible"] is True
    assert before["moments"]["acceptance"]["state"] == "open"
    assert before["moments"]["reply"] == {"state": "not_reached", "window": None}

    assert (await rate(api, number, STRANGER)).status_code == 404
    assert (await rate(api, number, HRSS)).status_code == 403
    bad = await rate(api, number, OWNER, level="very_satisfied")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "level"

    first = await rate(api, number, OWNER, level="basically_satisfied", comment="受理及时")
    assert first.status_code == 201, first.text
    acceptance = first.json()["moments"]["acceptance"]
    assert (acceptance["state"], acceptance["level"], acceptance["comment"]) == (
        "rated",
        "basically_satisfied",
        "受理及时",
    )
    assert acceptance["rated_by"] == "owner" and acceptance["changeable_until"]

    changed = await rate(api, number, OWNER, level="satisfied")
    assert changed.status_code == 200, changed.text
    assert changed.json()["moments"]["acceptance"]["level"] == "satisfied"
    assert changed.json()["moments"]["acceptance"]["changes"] == 1
    assert changed.json()["moments"]["acceptance"]["comment"] == "受理及时"  # kept
    same = await rate(api, number, OWNER, level="satisfied")
    assert same.status_code == 200 and same.json()["moments"]["acceptance"]["changes"] == 1
    recorded = [e["data"] for e in await events(db, case.case_id)]
    assert [(e["level"], e["changed"], e["previous_level"]) for e in recorded] == [
        ("basically_satisfied", False, None),
        ("satisfied", True, "basically_satisfied"),
    ]

    async with db.transaction() as s:  # as if rated 25 hours ago
        await s.execute(
            update(ratings)
            .where(ratings.c.case_id == case.case_id)
            .values(rated_at=datetime.now(UTC) - timedelta(hours=25))
        )
    late = await rate(api, number, OWNER, level="dissatisfied")
    assert late.status_code == 409
    assert late.headers["content-type"] == "application/problem+json"
    assert late.json()["reason"] == "change_period_over"
    assert "24 hours" in late.json()["detail"]
    assert (await rows(db, callbacks)) == []


async def test_who_reads_the_ratings(api: httpx.AsyncClient, db: Database) -> None:
    case = await accepted_case(db)
    url = f"/api/v1/cases/{case.tracking_number}/rating"
    await rate(api, case.tracking_number, OWNER, level="satisfied", comment="好")
    for headers in (OWNER, HRSS, OPERATOR):
        r = await api.get(url, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["moments"]["acceptance"]["comment"] == "好"
    for headers in (STRANGER, OTHER, SHANGHAI):
        assert (await api.get(url, headers=headers)).status_code == 404
    assert (await api.get(url)).status_code == 401
    assert (await api.get(url, params={"query_code": "WRONG234"})).status_code == 404
    by_code = await api.get(url, params={"query_code": QUERY_CODE.lower()})
    assert by_code.status_code == 200 and by_code.json()["moments"]["acceptance"]["level"]
    unknown = await api.get("/api/v1/cases/110107250101000019/rating", headers=OPERATOR)
    assert unknown.status_code == 404


async def test_rating_with_the_query_code(api: httpx.AsyncClient, db: Database) -> None:
    case = await accepted_case(db, owner_ref=None, channel="letter")
    url = f"/api/v1/cases/{case.tracking_number}/rating"
    body = {"moment": "acceptance", "level": "satisfied"}
    assert (await api.post(url, json=body)).status_code == 401
    wrong = await api.post(url, json=body, params={"query_code": "WRONG234"})
    assert wrong.status_code == 404
    done = await api.post(url, json=body, params={"query_code": QUERY_CODE})
    assert done.status_code == 201, done.text
    assert done.json()["moments"]["acceptance"]["rated_by"] == "query_code"
    assert (await rate(api, case.tracking_number, OWNER)).status_code == 404  # no account


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (
            {"kind": "accusation", "category": "misconduct", "unit_id": "110107:discipline"},
            "accusation",
        ),
        ({"identity_unclear": True, "channel": "letter", "owner_ref": None}, "identity_unclear"),
        ({"repeat_of": "8d3c0f0e-0000-4000-8000-000000000001"}, "repeat_petition"),
        ({"status": "diverted", "category": "litigation"}, "diverted"),
        ({"kind": "suggestion", "category": "policy"}, "not_a_grievance"),
    ],
)
async def test_cases_never_rated_answer_409_saying_why(
    api: httpx.AsyncClient, db: Database, facts: dict[str, Any], reason: str
) -> None:
    case = await add_case(db, accepted_at=datetime.now(UTC), **facts)
    r = await api.post(
        f"/api/v1/cases/{case.tracking_number}/rating",
        json={"moment": "acceptance", "level": "satisfied"},
        params={"query_code": QUERY_CODE},
    )
    assert r.status_code == 409, r.text
    assert r.json()["reason"] == reason and r.json()["moment"] == "acceptance"
    view = await api.get(f"/api/v1/cases/{case.tracking_number}/rating", headers=OPERATOR)
    assert view.json()["eligible"] is False and view.json()["ineligible_reason"] == reason
    assert view.json()["moments"]["acceptance"]["state"] == "ineligible"
    assert await rows(db, ratings) == []


async def test_moments_not_reached_and_windows_closed(api: httpx.AsyncClient, db: Database) -> None:
    fresh = await add_case(db, status="routed")
    early = await rate(api, fresh.tracking_number, OWNER)
    assert early.status_code == 409 and early.json()["reason"] == "moment_not_reached"
    reply = await rate(api, fresh.tracking_number, OWNER, moment="reply")
    assert reply.json()["reason"] == "moment_not_reached"

    # a reply read from tracking's event, its window not opened yet: the request opens it
    replied = await add_case(
        db, accepted_at=datetime.now(UTC) - timedelta(days=3), replied_at=datetime.now(UTC)
    )
    ok = await rate(api, replied.tracking_number, OWNER, moment="reply", level="satisfied")
    assert ok.status_code == 201, ok.text
    assert ok.json()["moments"]["acceptance"]["state"] == "open"

    old = await add_case(db, accepted_at=datetime.now(UTC) - timedelta(days=40))
    closed = await rate(api, old.tracking_number, OWNER)
    assert closed.status_code == 409 and closed.json()["reason"] == "window_closed"
    view = (await api.get(f"/api/v1/cases/{old.tracking_number}/rating", headers=OWNER)).json()
    assert view["moments"]["acceptance"]["state"] == "not_rated"


async def test_dissatisfied_opens_a_call_back_the_unit_completes(
    api: httpx.AsyncClient, db: Database
) -> None:
    case = await accepted_case(db)
    number = case.tracking_number
    r = await rate(api, number, OWNER, level="dissatisfied", comment="一直没人联系我")
    assert r.status_code == 201
    (cb,) = r.json()["callbacks"]
    assert (cb["status"], cb["moment"], cb["overdue"]) == ("open", "acceptance", False)
    assert "note" not in cb  # the petitioner sees the task, not the unit's notes

    # changed within 24 hours: the call-back is cancelled; dissatisfied again: a new one
    assert (await rate(api, number, OWNER, level="satisfied")).status_code == 200
    assert [c.status for c in await rows(db, callbacks)] == ["cancelled"]
    assert (await rate(api, number, OWNER, level="dissatisfied")).status_code == 200
    running = await rows(db, callbacks, callbacks.c.status == "open")
    assert len(running) == 1
    callback_id = running[0].id

    listed = await api.get("/api/v1/units/110107:hrss/callbacks", headers=HRSS)
    assert listed.status_code == 200
    items = listed.json()["items"]
    assert sorted(i["status"] for i in items) == ["cancelled", "open"]
    mine = next(i for i in items if i["id"] == callback_id)
    assert mine["rating"] == {"level": "dissatisfied", "comment": "一直没人联系我"}
    only_open = await api.get(
        "/api/v1/units/110107:hrss/callbacks", params={"status": "open"}, headers=HRSS
    )
    assert [i["id"] for i in only_open.json()["items"]] == [callback_id]
    page = await api.get("/api/v1/units/110107:hrss/callbacks", params={"limit": 1}, headers=HRSS)
    rest = await api.get(
        "/api/v1/units/110107:hrss/callbacks",
        params={"limit": 1, "cursor": page.json()["next_cursor"]},
        headers=HRSS,
    )
    assert len(page.json()["items"] + rest.json()["items"]) == 2
    assert rest.json()["next_cursor"] is None
    assert (await api.get("/api/v1/units/110107:hrss/callbacks", headers=OTHER)).status_code == 403
    assert (await api.get("/api/v1/units/110107:hrss/callbacks", headers=OWNER)).status_code == 403
    operator = await api.get("/api/v1/units/110107:hrss/callbacks", headers=OPERATOR)
    assert len(operator.json()["items"]) == 2
    far = await api.get("/api/v1/units/110107:hrss/callbacks", headers=SHANGHAI)
    assert far.status_code == 403  # a Beijing unit's call-backs: outside the token's region

    url = f"/api/v1/callbacks/{callback_id}/done"
    note = {"note": "已电话联系信访人，解释受理情况并约定面谈"}
    assert (await api.post(url, json=note, headers=OTHER)).status_code == 404
    assert (await api.post(url, json=note, headers=OPERATOR)).status_code == 403
    short = await api.post(url, json={"note": "好"}, headers=HRSS)
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "note"
    done = await api.post(url, json=note, headers=HRSS)
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["on_time"], done.json()["done_by"]) == (
        "done",
        True,
        "clerk-7",
    )
    again = await api.post(url, json=note, headers=HRSS)
    assert again.status_code == 409 and again.json()["callback_status"] == "done"
    seen = await api.get(f"/api/v1/callbacks/{callback_id}", headers=OPERATOR)
    assert seen.json()["note"] == note["note"]
    assert (await api.get(f"/api/v1/callbacks/{callback_id}", headers=OTHER)).status_code == 404

    types = [e["type"] for e in await events(db, case.case_id)]
    assert types == [
        "evaluation.rating.recorded.v1",
        "evaluation.callback.opened.v1",
        "evaluation.rating.recorded.v1",
        "evaluation.callback.cancelled.v1",
        "evaluation.rating.recorded.v1",
        "evaluation.callback.opened.v1",
        "evaluation.callback.done.v1",
    ]
    finished = (await events(db, case.case_id))[-1]["data"]
    assert finished["on_time"] is True and "note" not in finished
    assert date.fromisoformat(finished["due"]) > date.today()
