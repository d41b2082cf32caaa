"""Jurisdiction objections and re-routing through the gateway (PROCEDURE §4, Art. 23): a unit
objects within its window, routing moves the case without ever returning it to a unit that
objected, operators and the holding petition bureau name units by hand, and after the transfer
cap (3) the bureau's choice is final. Every move is an event and a timeline entry."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from services.launcher import Suite
from shared.db import Database
from tests.e2e.conftest import petition, read_events, token, wait_for
from tracking.models import cases

pytestmark = pytest.mark.e2e

OPERATOR = token("operator", "bureau-op")
BUREAU = token("unit", "bureau-clerk", unit_id="110107:petition_bureau")


def unit(unit_id: str) -> dict[str, str]:
    return token("unit", f"clerk-{unit_id}", unit_id=unit_id)


def case_of(api: httpx.Client, number: str, headers=OPERATOR) -> dict[str, Any]:
    r = api.get(f"/api/v1/cases/{number}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def moved_to(api: httpx.Client, number: str, status: str, unit_id: str) -> dict[str, Any]:
    def check():  # type: ignore[no-untyped-def]
        case = case_of(api, number)
        at = (case["status"], (case["unit"] or {}).get("id"))
        return case if at == (status, unit_id) else None

    return wait_for(check)


def object_(api: httpx.Client, number: str, unit_id: str, reason: str) -> httpx.Response:
    return api.post(
        f"/api/v1/cases/{number}/object", json={"reason": reason}, headers=unit(unit_id)
    )


def test_objections_transfers_and_the_cap(api: httpx.Client, suite: Suite) -> None:
    owner = token("petitioner", "objection-owner")
    created = api.post("/api/v1/petitions", json=petition("110107011"), headers=owner)
    assert created.status_code == 201, created.text
    number = created.json()["tracking_number"]
    moved_to(api, number, "routed", "110107:hrss")
    clock = case_of(api, number, unit("110107:hrss"))["deadlines"]["objection"]
    assert "5 working days" in clock["basis"]
    allowed = case_of(api, number, unit("110107:hrss"))["allowed_actions"]
    assert allowed == ["object", "accept", "not-accept"]

    # Only the handling unit may object, and only with a reason
    assert object_(api, number, "110108:hrss", "not ours at all").status_code == 404
    refused = api.post(
        f"/api/v1/cases/{number}/object", json={"reason": "not my unit"}, headers=owner
    )
    assert refused.status_code == 403
    short = object_(api, number, "110107:hrss", "no")
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "reason"

    # 1: the district's department objects; the rules go one level up
    answer = object_(api, number, "110107:hrss", "the employer is registered in 海淀")
    assert answer.status_code == 202, answer.text
    assert answer.json()["status"] == "received"
    again = object_(api, number, "110107:hrss", "the employer is registered in 海淀")
    assert again.status_code == 409  # it is no longer routed: nothing to object to
    assert again.json()["case_status"] == "received"
    moved_to(api, number, "routed", "110000:hrss")

    # 2: the city's department objects too: nobody competent is left, the bureau triages
    assert object_(api, number, "110000:hrss", "a district matter").status_code == 202
    moved_to(api, number, "triage", "110107:petition_bureau")
    triaged = object_(api, number, "110107:petition_bureau", "we do not handle wages")
    assert triaged.status_code == 409 and triaged.json()["allowed_actions"] == []

    # 3: the bureau holding the case names the lead unit itself
    named = api.post(
        f"/api/v1/cases/{number}/reroute",
        json={"unit_id": "110107:finance", "reason": "the employer is owned by the district"},
        headers=BUREAU,
    )
    assert named.status_code == 201, named.text
    assert named.json()["objection_allowed"] is True  # 3 moves: still within the cap
    moved_to(api, number, "routed", "110107:finance")

    # 4: a fourth move would exceed the cap: the bureau must name the lead, and that is final
    assert object_(api, number, "110107:finance", "wages are not ours").status_code == 202
    moved_to(api, number, "triage", "110107:petition_bureau")
    final = api.post(
        f"/api/v1/cases/{number}/reroute",
        json={"unit_id": "110107:hrss", "reason": "wage arrears are the labour bureau's remit"},
        headers=BUREAU,
    )
    assert final.status_code == 201, final.text
    assert final.json()["objection_allowed"] is False
    moved_to(api, number, "routed", "110107:hrss")
    blocked = object_(api, number, "110107:hrss", "still not ours")
    assert blocked.status_code == 409
    assert "final" in blocked.json()["detail"]
    assert "objection" not in case_of(api, number, unit("110107:hrss"))["deadlines"]

    # Every move is in the routing history, with who moved it and why
    routing = api.get(f"/api/v1/cases/{number}/routing", headers=OPERATOR).json()
    assert [m["cause"] for m in routing["history"]] == [
        "rules",
        "objection",
        "objection",
        "operator",
        "transfer_cap",
        "operator",
    ]
    assert routing["transfers"] == 5 and routing["revision"] == 5
    assert routing["objected_unit_ids"] == ["110107:hrss", "110000:hrss", "110107:finance"]
    assert routing["history"][1]["reason"] == "the employer is registered in 海淀"

    # ... and in the timeline: the public one says where the case went, not the units' reasons
    public = [e["note"] for e in case_of(api, number, owner)["timeline"]]
    assert sum("returned by the unit" in n for n in public) == 3
    assert sum(n.startswith("transferred to") for n in public) == 3
    assert not any("海淀" in n for n in public)
    internal = [e["note"] for e in case_of(api, number)["timeline"]]
    assert "the employer is registered in 海淀" in internal

    # ... and on the topics
    prefix = suite.extra_env["XINFANG_TOPIC_PREFIX"]
    values = asyncio.run(
        read_events(
            suite.bootstrap,
            [f"{prefix}.routing.events", f"{prefix}.tracking.events"],
        )
    )
    mine = [json.loads(v) for v in values if number in v]
    types = [e["type"] for e in mine]
    assert types.count("tracking.case.objected.v1") == 3
    assert types.count("routing.case.rerouted.v1") == 5
    assert [e["data"]["revision"] for e in mine if e["type"] == "routing.case.rerouted.v1"] == [
        1,
        2,
        3,
        4,
        5,
    ]


def test_operators_move_cases_within_the_law(api: httpx.Client) -> None:
    owner = token("petitioner", "accusation-owner")
    body = petition("110107", kind="accusation", category="misconduct")
    body["accused_unit_id"] = "110107:housing"
    number = api.post("/api/v1/petitions", json=body, headers=owner).json()["tracking_number"]
    moved_to(api, number, "routed", "110107:discipline")

    def reroute(unit_id: str, headers=OPERATOR, **extra: Any) -> httpx.Response:
        return api.post(
            f"/api/v1/cases/{number}/reroute",
            json={"unit_id": unit_id, "reason": "moved by the bureau", **extra},
            headers=headers,
        )

    accused = reroute("110107:housing")
    assert accused.status_code == 422
    assert accused.json()["errors"][0]["field"] == "unit_id"
    assert reroute("110107:hrss").status_code == 422  # not a discipline organ
    assert reroute("110107:discipline").status_code == 409  # already there
    elsewhere = token("operator", "op-sh", region_code="310000")
    assert reroute("110000:discipline", headers=elsewhere).status_code == 404
    assert reroute("110000:discipline", headers=unit("110107:discipline")).status_code == 404
    assert reroute("110000:discipline", headers=owner).status_code == 404
    local = token("operator", "op-bj", region_code="110000")
    moved = reroute("110000:discipline", headers=local)
    assert moved.status_code == 201, moved.text
    assert moved.json()["history"][-1]["actor"] == "operator:op-bj"
    moved_to(api, number, "routed", "110000:discipline")
    gone = api.get(f"/api/v1/cases/{number}", headers=unit("110107:discipline"))
    assert gone.status_code == 404  # the former handler no longer sees it


def test_a_diverted_case_is_not_moved(api: httpx.Client) -> None:
    owner = token("petitioner", "diverted-owner")
    body = petition("110107", category="litigation")
    number = api.post("/api/v1/petitions", json=body, headers=owner).json()["tracking_number"]
    wait_for(lambda: case_of(api, number)["status"] == "diverted")
    r = api.post(
        f"/api/v1/cases/{number}/reroute",
        json={"unit_id": "110107:hrss", "reason": "not litigation after all"},
        headers=OPERATOR,
    )
    assert r.status_code == 409, r.text


def test_an_objection_after_five_working_days_is_refused(api: httpx.Client, suite: Suite) -> None:
    owner = token("petitioner", "late-owner")
    number = api.post("/api/v1/petitions", json=petition("110107"), headers=owner).json()[
        "tracking_number"
    ]
    moved_to(api, number, "routed", "110107:hrss")

    async def clock_ran_out() -> None:
        # the clock ran out: the last day of the window was yesterday (as if received earlier)
        db = Database(suite.env()["XINFANG_TRACKING_DATABASE_URL"])
        try:
            async with db.transaction() as s:
                await s.execute(
                    update(cases)
                    .where(cases.c.tracking_number == number)
                    .values(objection_due=date.today() - timedelta(days=1))
                )
        finally:
            await db.dispose()

    asyncio.run(clock_ran_out())
    late = object_(api, number, "110107:hrss", "we noticed only now")
    assert late.status_code == 409, late.text
    assert "objection window closed" in late.json()["detail"]
    assert case_of(api, number)["status"] == "routed"  # nothing moved
