"""The life of a case through the gateway (PROCEDURE §5-§6): receive, route, accept, extend,
reply, review, re-review, terminate; and the withdraw, not-accept, simplified-track and late
review branches, each with its timeline, clocks and events."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from services.launcher import Suite
from shared.calendar import default_calendar
from shared.db import Database
from shared.vocabulary import CST
from tests.e2e.conftest import petition, read_events, token, wait_for
from tracking.models import clocks

pytestmark = pytest.mark.e2e

OPERATOR = token("operator", "life-op")
HANDLER = token("unit", "clerk", unit_id="110107:hrss")
REVIEWER = token("unit", "clerk", unit_id="110000:hrss")
REREVIEWER = token("unit", "clerk", unit_id="000000:hrss")
CAL = default_calendar()
REPLY = "经核查，该公司已于本月结清所欠工资，现予答复。"


def case_of(api: httpx.Client, number: str, headers=OPERATOR) -> dict[str, Any]:
    r = api.get(f"/api/v1/cases/{number}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def act(api: httpx.Client, number: str, action: str, headers, **body: Any) -> httpx.Response:
    return api.post(f"/api/v1/cases/{number}/{action}", json=body, headers=headers)


def routed(api: httpx.Client, owner: dict[str, str], **over: Any) -> str:
    r = api.post("/api/v1/petitions", json=petition("110107", **over), headers=owner)
    assert r.status_code == 201, r.text
    number = r.json()["tracking_number"]
    wait_for(lambda: case_of(api, number)["status"] == "routed")
    return number


def today() -> date:
    return datetime.now(UTC).astimezone(CST).date()


def test_a_full_life_to_termination(api: httpx.Client, suite: Suite) -> None:
    owner = token("petitioner", "life-owner")
    content = petition()["content"]
    number = routed(api, owner, content=content)
    mine = case_of(api, number, owner)
    assert set(mine["deadlines"]) == {"acceptance"}  # the objection clock is the unit's
    assert mine["allowed_actions"] == ["withdraw"]

    # Steps recorded late must not claim the future or predate the previous step
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = act(api, number, "accept", HANDLER, effective_at=future)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "effective_at"
    r = act(api, number, "accept", HANDLER, effective_at="2020-01-01T00:00:00+08:00")
    assert r.status_code == 422 and "previous step" in r.json()["detail"]
    assert act(api, number, "accept", REVIEWER).status_code == 404  # not its case (yet)

    accepted = act(api, number, "accept", HANDLER)
    assert accepted.status_code == 200, accepted.text
    case = accepted.json()
    assert (case["status"], case["track"]) == ("in_progress", "general")
    assert case["deadlines"]["acceptance"]["state"] == "met"
    assert case["deadlines"]["handling"]["due"] == CAL.due(today(), 60).date.isoformat()

    too_long = act(
        api, number, "extend", HANDLER, days=31, reason="需要现场核查", approved_by="王局长"
    )
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "days"
    extended = act(
        api, number, "extend", HANDLER, days=20, reason="需要现场核查", approved_by="王局长"
    )
    assert extended.status_code == 200, extended.text
    # acceptance + (60 + 20) days, moved to a working day: not the old deadline + 20
    assert extended.json()["deadlines"]["handling"]["due"] == CAL.due(today(), 80).date.isoformat()
    again = act(api, number, "extend", HANDLER, days=5, reason="再次延期", approved_by="王局长")
    assert again.status_code == 409
    assert again.json()["allowed_actions"] == ["reply"]

    short = act(api, number, "reply", HANDLER, outcome="support", text="好")
    assert short.status_code == 422 and short.json()["errors"][0]["field"] == "text"
    replied = act(api, number, "reply", HANDLER, outcome="support", text=REPLY)
    assert replied.status_code == 200, replied.text
    assert replied.json()["reply"]["outcome"] == "support"

    assert act(api, number, "review-requests", HANDLER, reason="对答复不满意").status_code == 403
    review = act(api, number, "review-requests", owner, reason="工资仍未全部到账")
    assert review.status_code == 201, review.text
    assert review.json()["status"] == "under_review"
    assert review.json()["reviews"][0]["unit_id"] == "110000:hrss"
    assert case_of(api, number, REVIEWER)["allowed_actions"] == ["review-decision"]
    decided = act(
        api,
        number,
        "review-decision",
        REVIEWER,
        decision="maintain",
        text="经复查，原答复正确，予以维持。",
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "review_replied"

    rereview = act(api, number, "rereview-requests", owner, reason="仍不服复查意见")
    assert rereview.status_code == 201, rereview.text
    assert rereview.json()["reviews"][1]["unit_id"] == "000000:hrss"
    final = act(
        api,
        number,
        "rereview-decision",
        REREVIEWER,
        decision="maintain",
        text="经复核，维持复查意见，本案终结。",
    )
    assert final.status_code == 200, final.text
    assert final.json()["status"] == "terminated"

    public = case_of(api, number, owner)
    assert [e["status"] for e in public["timeline"]] == [
        "received",
        "routed",
        "in_progress",
        "extended",
        "replied",
        "under_review",
        "review_replied",
        "under_rereview",
        "terminated",
    ]
    assert "需要现场核查" in public["timeline"][3]["note"]  # the petitioner is told why
    assert "王局长" not in json.dumps(public)  # who approved it is internal
    assert public["allowed_actions"] == []

    # The events, in order, and a notification for every step the petitioner sees
    prefix = suite.extra_env["XINFANG_TOPIC_PREFIX"]
    values = asyncio.run(read_events(suite.bootstrap, [f"{prefix}.tracking.events"]))
    types = [e["type"] for e in map(json.loads, values) if e["subject"] == public["case_id"]]
    for t in (
        "tracking.case.accepted.v1",
        "tracking.case.extended.v1",
        "tracking.case.replied.v1",
    ):
        assert types.count(t) == 1, t
    assert types.count("tracking.case.review_requested.v1") == 2
    assert types.count("tracking.case.review_decided.v1") == 2
    assert types.count("tracking.notification.requested.v1") == 8  # routed ... terminated

    # The same petitioner, the same facts, after termination: not accepted again (Art. 36)
    repeat = api.post("/api/v1/petitions", json=petition("110107", content=content), headers=owner)
    assert repeat.status_code == 201
    repeated = repeat.json()["tracking_number"]
    wait_for(lambda: case_of(api, repeated, owner)["status"] == "not_reaccepted")
    assert case_of(api, repeated, owner)["linked_to"] == number


def test_withdraw_and_not_accept(api: httpx.Client) -> None:
    owner = token("petitioner", "withdraw-owner")
    number = routed(api, owner)
    assert act(api, number, "accept", HANDLER).status_code == 200
    stranger = token("petitioner", "someone-else")
    assert act(api, number, "withdraw", stranger).status_code == 404
    gone = act(api, number, "withdraw", owner, reason="问题已私下解决")
    assert gone.status_code == 200 and gone.json()["status"] == "withdrawn"
    late = act(api, number, "reply", HANDLER, outcome="explain", text=REPLY)
    assert late.status_code == 409 and late.json()["allowed_actions"] == []
    assert "handling" not in case_of(api, number)["deadlines"]  # no clock runs on a withdrawn case

    other = routed(api, owner)
    refused = act(api, other, "not-accept", HANDLER, reason="不属于信访事项，请通过仲裁解决")
    assert refused.status_code == 200 and refused.json()["status"] == "not_accepted"
    notice = case_of(api, other, owner)["timeline"][-1]["note"]
    assert "不属于信访事项" in notice


def test_the_simplified_track(api: httpx.Client) -> None:
    owner = token("petitioner", "simple-owner")
    number = routed(api, owner)
    case = act(api, number, "accept", HANDLER, simplified=True).json()
    assert case["track"] == "simplified"
    expected = CAL.due(today(), 10, "working").date.isoformat()
    assert case["deadlines"]["handling"]["due"] == expected
    assert "extend" not in case["allowed_actions"]
    no = act(api, number, "extend", HANDLER, days=5, reason="需要时间", approved_by="王局长")
    assert no.status_code == 409


def test_a_late_review_request_is_registered_and_refused(api: httpx.Client, suite: Suite) -> None:
    owner = token("petitioner", "late-review-owner")
    number = routed(api, owner)
    assert act(api, number, "accept", HANDLER).status_code == 200
    case_id = act(api, number, "reply", HANDLER, outcome="explain", text=REPLY).json()["case_id"]

    async def window_closed() -> None:
        db = Database(suite.env()["XINFANG_TRACKING_DATABASE_URL"])
        try:
            async with db.transaction() as s:
                await s.execute(
                    update(clocks)
                    .where(clocks.c.case_id == case_id, clocks.c.kind == "review_request")
                    .values(due=today() - timedelta(days=1))
                )
        finally:
            await db.dispose()

    asyncio.run(window_closed())
    late = act(api, number, "review-requests", owner, reason="我对答复不服")
    assert late.status_code == 409 and "rejected as late" in late.json()["detail"]
    view = case_of(api, number, owner)
    assert view["status"] == "replied"
    assert "rejected as late" in view["timeline"][-1]["note"]


def test_unit_inbox_filters_and_the_calendar_helper(api: httpx.Client) -> None:
    owner = token("petitioner", "inbox-owner")
    number = routed(api, owner)
    inbox = api.get(
        "/api/v1/units/110107:hrss/cases",
        params={"status": "routed", "clock_state": "on_time", "limit": 200},
        headers=HANDLER,
    )
    assert inbox.status_code == 200, inbox.text
    numbers = [c["tracking_number"] for c in inbox.json()["items"]]
    cursor = inbox.json()["next_cursor"]
    while cursor and number not in numbers:
        page = api.get(
            "/api/v1/units/110107:hrss/cases",
            params={"status": "routed", "clock_state": "on_time", "limit": 200, "cursor": cursor},
            headers=HANDLER,
        ).json()
        numbers += [c["tracking_number"] for c in page["items"]]
        cursor = page["next_cursor"]
    assert number in numbers
    overdue = api.get(
        "/api/v1/units/110107:hrss/cases", params={"clock_state": "overdue"}, headers=HANDLER
    )
    assert number not in [c["tracking_number"] for c in overdue.json()["items"]]
    bad = api.get("/api/v1/units/110107:hrss/cases", params={"status": "lost"}, headers=HANDLER)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"

    due = api.get(
        "/api/v1/calendar/due", params={"start": "2026-09-30", "days": 5, "unit": "working"}
    )
    assert due.status_code == 200
    assert due.json()["due"] == "2026-10-13" and due.json()["provisional"] is False
    assert (
        api.get("/api/v1/calendar/due", params={"start": "2026-02-01", "days": 15}).json()["due"]
        == "2026-02-24"
    )
    assert api.get("/api/v1/calendar/due", params={"start": "x", "days": 1}).status_code == 422


def test_an_assigned_case_reports_back(api: httpx.Client) -> None:
    owner = token("petitioner", "assign-owner")
    number = routed(api, owner)
    assert act(api, number, "report", HANDLER, text="已按期办理").status_code == 409  # forwarded
    report_due = (today() + timedelta(days=10)).isoformat()
    assigned = api.post(
        f"/api/v1/cases/{number}/reroute",
        json={"unit_id": "110107:housing", "reason": "交办：住建委牵头", "report_due": report_due},
        headers=OPERATOR,
    )
    assert assigned.status_code == 201, assigned.text
    housing = token("unit", "clerk", unit_id="110107:housing")
    wait_for(lambda: (case_of(api, number)["unit"] or {}).get("id") == "110107:housing")
    case = case_of(api, number, housing)
    assert case["report_due"] == report_due
    assert case["deadlines"]["report"]["due"] == report_due
    assert "report" in case["allowed_actions"]
    done = act(api, number, "report", housing, text="已约谈企业负责人，正在督促结清")
    assert done.status_code == 200, done.text
    assert done.json()["deadlines"]["report"]["state"] == "met"
    assert "report" not in done.json()["allowed_actions"]
    assert act(api, number, "report", housing, text="再次报告").status_code == 409
    past = api.post(
        f"/api/v1/cases/{number}/reroute",
        json={"unit_id": "110107:hrss", "reason": "改回人社局办理", "report_due": "2020-01-01"},
        headers=OPERATOR,
    )
    assert past.status_code == 422 and past.json()["errors"][0]["field"] == "report_due"
