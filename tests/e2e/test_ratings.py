"""Satisfaction ratings and call-backs through the gateway (PROCEDURE §8): the petitioner rates
after the acceptance notice and after the reply, changes within 24 hours and not after, a
dissatisfied rating opens a call-back the unit sees and completes, a query code rates without
an account, an unrated window is stored as not_rated, and the cases never rated say why."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from evaluation.models import ratings
from services.launcher import Suite
from shared.db import Database
from tests.e2e.conftest import petition, read_events, token, wait_for

pytestmark = pytest.mark.e2e

OPERATOR = token("operator", "rating-op")
HANDLER = token("unit", "rating-clerk", unit_id="110107:hrss")
REPLY = "经核查，该公司已于本月结清所欠工资，现予答复。"


def submit(api: httpx.Client, headers: dict[str, str], **over: Any) -> dict[str, Any]:
    r = api.post("/api/v1/petitions", json=petition("110107", **over), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def status_of(api: httpx.Client, number: str) -> str:
    return api.get(f"/api/v1/cases/{number}", headers=OPERATOR).json()["status"]


def rating(api: httpx.Client, number: str, headers=OPERATOR, **params: str) -> dict[str, Any]:
    r = api.get(f"/api/v1/cases/{number}/rating", headers=headers, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def rate(
    api: httpx.Client, number: str, moment: str, level: str, headers=None, **extra: Any
) -> httpx.Response:
    params = {"query_code": extra.pop("query_code")} if "query_code" in extra else {}
    return api.post(
        f"/api/v1/cases/{number}/rating",
        json={"moment": moment, "level": level, **extra},
        headers=headers or {},
        params=params,
    )


def act(api: httpx.Client, number: str, action: str, **body: Any) -> None:
    r = api.post(f"/api/v1/cases/{number}/{action}", json=body, headers=HANDLER)
    assert r.status_code == 200, r.text


def window_open(api: httpx.Client, number: str, moment: str) -> None:
    """Evaluation learns of the moment from tracking's event, a moment after the step."""
    wait_for(lambda: rating(api, number)["moments"][moment]["state"] == "open")


def move_back(suite: Suite, number: str, **values: Any) -> None:
    """Change a stored rating of the case in evaluation's own database (time passing)."""

    async def run() -> None:
        db = Database(suite.env()["XINFANG_EVALUATION_DATABASE_URL"])
        try:
            async with db.transaction() as s:
                done = await s.execute(
                    update(ratings).where(ratings.c.tracking_number == number).values(**values)
                )
                assert done.rowcount == 1
        finally:
            await db.dispose()

    asyncio.run(run())


def test_ratings_at_both_moments_and_a_call_back(api: httpx.Client, suite: Suite) -> None:
    owner = token("petitioner", "rating-owner")
    number = submit(api, owner)["tracking_number"]
    wait_for(lambda: status_of(api, number) == "routed")
    view = wait_for(
        lambda: (
            (r := api.get(f"/api/v1/cases/{number}/rating", headers=owner)).status_code == 200
            and r.json()
        )
    )
    assert view["eligible"] is True
    assert view["moments"]["acceptance"]["state"] == "not_reached"
    early = rate(api, number, "acceptance", "satisfied", owner)
    assert early.status_code == 409 and early.json()["reason"] == "moment_not_reached"
    assert early.headers["content-type"] == "application/problem+json"

    # After the acceptance notice: rate, change within 24 hours, not after
    act(api, number, "accept")
    window_open(api, number, "acceptance")
    assert rate(api, number, "acceptance", "satisfied", HANDLER).status_code == 403
    stranger = token("petitioner", "someone-else")
    assert rate(api, number, "acceptance", "satisfied", stranger).status_code == 404
    first = rate(api, number, "acceptance", "basically_satisfied", owner, comment="受理及时")
    assert first.status_code == 201, first.text
    acceptance = first.json()["moments"]["acceptance"]
    assert (acceptance["state"], acceptance["level"]) == ("rated", "basically_satisfied")
    closes = date.fromisoformat(acceptance["window"]["closes_on"])
    assert closes >= date.today() + timedelta(days=29)
    changed = rate(api, number, "acceptance", "satisfied", owner)
    assert changed.status_code == 200, changed.text
    assert changed.json()["moments"]["acceptance"]["level"] == "satisfied"

    move_back(suite, number, rated_at=datetime.now(UTC) - timedelta(hours=25))
    late = rate(api, number, "acceptance", "dissatisfied", owner)
    assert late.status_code == 409 and late.json()["reason"] == "change_period_over"
    assert rating(api, number, owner)["moments"]["acceptance"]["level"] == "satisfied"

    # After the reply: dissatisfied opens a call-back for the unit, and no review
    not_yet = rate(api, number, "reply", "satisfied", owner)
    assert not_yet.status_code == 409 and not_yet.json()["reason"] == "moment_not_reached"
    act(api, number, "reply", outcome="support", text=REPLY)
    window_open(api, number, "reply")
    unhappy = rate(api, number, "reply", "dissatisfied", owner, comment="工资仍未全部到账")
    assert unhappy.status_code == 201, unhappy.text
    (task,) = unhappy.json()["callbacks"]
    assert (task["status"], task["moment"]) == ("open", "reply")
    assert status_of(api, number) == "replied"  # a rating opens no review

    inbox = api.get(
        "/api/v1/units/110107:hrss/callbacks", params={"status": "open"}, headers=HANDLER
    )
    assert inbox.status_code == 200, inbox.text
    mine = next(i for i in inbox.json()["items"] if i["tracking_number"] == number)
    assert mine["rating"] == {"level": "dissatisfied", "comment": "工资仍未全部到账"}
    other = token("unit", "clerk", unit_id="110108:hrss")
    assert api.get("/api/v1/units/110107:hrss/callbacks", headers=other).status_code == 403
    done = api.post(
        f"/api/v1/callbacks/{mine['id']}/done",
        json={"note": "已电话回访，督促企业三日内补发剩余工资"},
        headers=HANDLER,
    )
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["on_time"]) == ("done", True)
    assert rating(api, number, owner)["callbacks"][0]["status"] == "done"

    prefix = suite.extra_env["XINFANG_TOPIC_PREFIX"]
    case_id = view["case_id"]

    def published() -> list[str] | None:
        values = asyncio.run(read_events(suite.bootstrap, [f"{prefix}.evaluation.events"]))
        found = [e["type"] for e in map(json.loads, values) if e["subject"] == case_id]
        return found if "evaluation.callback.done.v1" in found else None

    types = wait_for(published)
    assert types == [
        "evaluation.rating.recorded.v1",
        "evaluation.rating.recorded.v1",
        "evaluation.rating.recorded.v1",
        "evaluation.callback.opened.v1",
        "evaluation.callback.done.v1",
    ]


def test_a_query_code_rates_without_an_account(api: httpx.Client) -> None:
    clerk = token("unit", "letters-clerk", unit_id="110107:hrss")
    letter = submit(api, clerk, channel="letter")  # staff-entered, identity clear
    number, code = letter["tracking_number"], letter["query_code"]
    wait_for(lambda: status_of(api, number) == "routed")
    act(api, number, "accept")
    window_open(api, number, "acceptance")
    assert rate(api, number, "acceptance", "satisfied").status_code == 401
    wrong = rate(api, number, "acceptance", "satisfied", query_code="WRONG234")
    assert wrong.status_code == 404
    ok = rate(api, number, "acceptance", "satisfied", query_code=code)
    assert ok.status_code == 201, ok.text
    assert ok.json()["moments"]["acceptance"]["rated_by"] == "query_code"
    assert rating(api, number, {}, query_code=code)["moments"]["acceptance"]["state"] == "rated"


def test_a_window_closing_unrated_is_stored_as_not_rated(api: httpx.Client, suite: Suite) -> None:
    owner = token("petitioner", "silent-owner")
    number = submit(api, owner)["tracking_number"]
    wait_for(lambda: status_of(api, number) == "routed")
    act(api, number, "accept")
    window_open(api, number, "acceptance")
    move_back(suite, number, window_closes=date.today() - timedelta(days=2))

    def stored() -> bool:
        async def state() -> str:
            db = Database(suite.env()["XINFANG_EVALUATION_DATABASE_URL"])
            try:
                async with db.sessions() as s:
                    q = ratings.select().where(ratings.c.tracking_number == number)
                    return (await s.execute(q)).one().state
            finally:
                await db.dispose()

        return asyncio.run(state()) == "not_rated"

    wait_for(stored)  # the scheduler stored it, not only the view
    view = rating(api, number, owner)["moments"]["acceptance"]
    assert view["state"] == "not_rated" and "level" not in view
    late = rate(api, number, "acceptance", "satisfied", owner)
    assert late.status_code == 409 and late.json()["reason"] == "window_closed"


def test_cases_never_rated_say_why(api: httpx.Client) -> None:
    owner = token("petitioner", "unrated-owner")
    clerk = token("unit", "visits-clerk", unit_id="110107:hrss")
    accusation = petition("110107", kind="accusation", category="misconduct")
    accusation["accused_unit_id"] = "110107:housing"
    r = api.post("/api/v1/petitions", json=accusation, headers=owner)
    accused = r.json()["tracking_number"]
    unclear = submit(api, clerk, channel="letter", petitioner={"name": "李四"})
    content = petition()["content"]
    first = submit(api, owner, content=content)["tracking_number"]
    wait_for(lambda: status_of(api, first) == "routed")
    repeat = submit(api, owner, content=content)["tracking_number"]

    def refused(number: str, **kw: Any) -> str:
        # once evaluation has the facts (one query-code attempt: they are rate limited)
        def known() -> bool:
            r = api.get(f"/api/v1/cases/{number}/rating", headers=OPERATOR)
            return r.is_success and r.json()["eligible"] is False

        wait_for(known)
        headers = {} if "query_code" in kw else owner
        r = rate(api, number, "acceptance", "satisfied", headers, **kw)
        assert r.status_code == 409, r.text
        return r.json()["reason"]

    assert refused(accused) == "accusation"
    assert refused(unclear["tracking_number"], query_code=unclear["query_code"]) == (
        "identity_unclear"
    )
    assert refused(repeat) == "repeat_petition"
    wait_for(lambda: status_of(api, repeat) == "linked_duplicate")
