"""Supervision through the gateway (PROCEDURE §5, §7): an acceptance clock that runs out opens
supervision by itself (tracking's scheduler, every 0.5 s in this suite), the operator sees it,
the unit answers, the petition bureau closes it; and a leader takes charge of the case."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from services.launcher import Suite
from shared.db import Database
from tests.e2e.conftest import petition, read_events, token, wait_for
from tracking.models import cases, clocks

pytestmark = pytest.mark.e2e

OPERATOR = token("operator", "supervision-op", region_code="110000")
HRSS = token("unit", "hrss-clerk", unit_id="110107:hrss")
BUREAU = token("unit", "bureau-clerk", unit_id="110107:petition_bureau")


def move_acceptance_into_the_past(suite: Suite, number: str) -> None:
    """As if the unit had received the case 20 days ago: its 15 days ran out the day before
    yesterday."""

    async def move() -> None:
        db = Database(suite.env()["XINFANG_TRACKING_DATABASE_URL"])
        today = date.today()
        try:
            async with db.transaction() as s:
                case_id = select(cases.c.id).where(cases.c.tracking_number == number)
                moved = await s.execute(
                    update(clocks)
                    .where(
                        clocks.c.case_id == case_id.scalar_subquery(),
                        clocks.c.kind == "acceptance",
                        clocks.c.stopped_at.is_(None),
                    )
                    .values(
                        started_on=today - timedelta(days=20),
                        due=today - timedelta(days=2),
                        due_soon_on=today - timedelta(days=5),
                        next_check=today - timedelta(days=5),
                    )
                )
                assert moved.rowcount == 1
        finally:
            await db.dispose()

    asyncio.run(move())


def test_an_overdue_acceptance_opens_supervision_that_the_unit_answers(
    api: httpx.Client, suite: Suite
) -> None:
    owner = token("petitioner", "supervision-owner")
    created = api.post("/api/v1/petitions", json=petition("110107011"), headers=owner)
    assert created.status_code == 201, created.text
    number = created.json()["tracking_number"]
    wait_for(
        lambda: (
            api.get(f"/api/v1/cases/{number}", headers=OPERATOR).json().get("status") == "routed"
        )
    )
    listed = api.get("/api/v1/supervision", params={"tracking_number": number}, headers=OPERATOR)
    assert listed.status_code == 200 and listed.json()["items"] == []

    move_acceptance_into_the_past(suite, number)

    def opened():  # type: ignore[no-untyped-def]
        r = api.get("/api/v1/supervision", params={"tracking_number": number}, headers=OPERATOR)
        assert r.status_code == 200, r.text
        return r.json()["items"]

    (sup,) = wait_for(opened, timeout=30)
    assert (sup["unit_id"], sup["bureau_unit_id"]) == ("110107:hrss", "110107:petition_bureau")
    assert (sup["reason"], sup["status"], sup["level"], sup["opened_by"]) == (
        "overdue",
        "open",
        0,
        "system",
    )
    assert date.fromisoformat(sup["response_due"]) >= date.today() + timedelta(days=30)
    mine = api.get("/api/v1/supervision", params={"status": "open"}, headers=HRSS).json()
    assert sup["id"] in [s["id"] for s in mine["items"]]

    answer = {"text": "the case has been accepted; a handler is named"}
    responded = api.post(f"/api/v1/supervision/{sup['id']}/response", json=answer, headers=HRSS)
    assert responded.status_code == 200, responded.text
    assert responded.json()["status"] == "responded"
    again = api.post(f"/api/v1/supervision/{sup['id']}/response", json=answer, headers=HRSS)
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"
    closed = api.post(f"/api/v1/supervision/{sup['id']}/close", headers=BUREAU)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    (final,) = api.get(
        "/api/v1/supervision", params={"tracking_number": number}, headers=OPERATOR
    ).json()["items"]
    assert (final["status"], final["response"]) == ("closed", answer["text"])
    on_case = api.get(f"/api/v1/cases/{number}", headers=OPERATOR).json()["supervision"]
    assert [(x["id"], x["status"]) for x in on_case] == [(sup["id"], "closed")]

    leader = {"name": "王五", "title": "石景山区副区长"}
    named = api.post(f"/api/v1/cases/{number}/leader", json=leader, headers=OPERATOR)
    assert named.status_code == 200 and named.json()["leader"] == leader

    prefix = suite.extra_env["XINFANG_TOPIC_PREFIX"]
    values = asyncio.run(read_events(suite.bootstrap, [f"{prefix}.tracking.events"]))
    types = [json.loads(v)["type"] for v in values if number in v]
    for kind in (
        "tracking.clock.overdue.v1",
        "tracking.supervision.opened.v1",
        "tracking.supervision.responded.v1",
        "tracking.supervision.closed.v1",
    ):
        assert types.count(kind) == 1, (kind, types)
