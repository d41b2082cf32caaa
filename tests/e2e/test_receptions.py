"""Video and joint reception (视频接访, 联合接访) through the gateway, on the shared suite: a
petitioner asks for one, the petition bureau of the case's county proposes slots on the
official calendar and invites the handling and co-handling units (their agency systems get
the invitation by webhook, signed), the petitioner confirms a slot, the reminders go out ahead
of it, the bureau reschedules, records the reception (public summary, internal minutes) and a
no-show; a third is cancelled. The timeline and the situation view show each.

Cases are in 武侯区, Chengdu (510107): no other end-to-end test sends cases there, so the
analytics figures are this test's own."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from services.launcher import Suite
from shared.calendar import default_calendar
from shared.db import Database
from shared.vocabulary import CST
from tests.e2e.conftest import petition, token, wait_for
from tests.webhook_receiver import Receiver
from tracking.models import receptions

pytestmark = pytest.mark.e2e

COUNTY = "510107"  # 武侯区
HANDLER_UNIT = f"{COUNTY}:hrss"
BUREAU = token("unit", "wuhou-bureau-clerk", unit_id=f"{COUNTY}:petition_bureau")
HANDLER = token("unit", "wuhou-hrss-clerk", unit_id=HANDLER_UNIT)
OPERATOR = token("operator", "chengdu-op", region_code="510100")
SECRET = "wuhou-hrss-agency-secret-0001"
TYPES = [
    "tracking.reception.invited.v1",
    "tracking.reception.scheduled.v1",
    "tracking.reception.reminder.v1",
    "tracking.reception.held.v1",
]


def working_slots(n: int, hour: int = 10) -> list[str]:
    """``n`` start times at ``hour``:00 China time on the next official working days."""
    calendar = default_calendar()
    day, out = datetime.now(CST).date(), []
    while len(out) < n:
        day += timedelta(days=1)
        if calendar.is_workday(day):
            out.append(datetime.combine(day, time(hour), CST).astimezone(UTC).isoformat())
    return out


def move_start(suite: Suite, reception_id: str, starts_at: datetime, minutes: int = 60) -> None:
    """As if the reception had been booked for ``starts_at`` (a scheduler's view of time)."""

    async def move() -> None:
        db = Database(suite.env()["XINFANG_TRACKING_DATABASE_URL"])
        try:
            async with db.transaction() as s:
                moved = await s.execute(
                    update(receptions)
                    .where(receptions.c.id == reception_id)
                    .values(starts_at=starts_at, ends_at=starts_at + timedelta(minutes=minutes))
                )
                assert moved.rowcount == 1
        finally:
            await db.dispose()

    asyncio.run(move())


def routed_case(api: httpx.Client, owner: dict[str, str]) -> str:
    r = api.post("/api/v1/petitions", json=petition(COUNTY), headers=owner)
    assert r.status_code == 201, r.text
    number = r.json()["tracking_number"]
    wait_for(lambda: api.get(f"/api/v1/cases/{number}", headers=owner).json()["status"] == "routed")
    return number


def post(api: httpx.Client, path: str, body: dict[str, Any], who: dict[str, str]) -> Any:
    r = api.post(path, json=body, headers=who)
    assert r.status_code in (200, 201), f"{path}: {r.status_code} {r.text}"
    return r.json()


def timeline(api: httpx.Client, number: str, who: dict[str, str]) -> list[dict[str, Any]]:
    return api.get(f"/api/v1/cases/{number}", headers=who).json()["timeline"]


@pytest.fixture
def receiver(api: httpx.Client) -> Any:
    """The handling unit's agency system, subscribed to the reception events."""
    r = Receiver(SECRET)
    base = f"/api/v1/units/{HANDLER_UNIT}/webhooks"
    created = api.post(
        base, json={"url": r.url, "secret": SECRET, "event_types": TYPES}, headers=HANDLER
    )
    assert created.status_code == 201, created.text
    try:
        yield r
    finally:
        api.delete(f"{base}/{created.json()['id']}", headers=HANDLER)
        r.close()


def test_a_video_reception_from_request_to_minutes(
    api: httpx.Client, suite: Suite, receiver: Receiver
) -> None:
    owner = token("petitioner", f"reception-{uuid.uuid4().hex[:8]}")
    number = routed_case(api, owner)
    case = api.get(f"/api/v1/cases/{number}", headers=OPERATOR).json()
    co_units = case["co_unit_ids"]

    # The petitioner asks; a second open request for the same case is refused
    reception = post(
        api, f"/api/v1/cases/{number}/receptions", {"reason": "希望当面说明情况"}, owner
    )
    rid = reception["id"]
    assert reception["status"] == "requested"
    assert reception["bureau_unit_id"] == f"{COUNTY}:petition_bureau"
    again = api.post(f"/api/v1/cases/{number}/receptions", json={}, headers=owner)
    assert again.status_code == 409, again.text

    # The bureau proposes slots inside working hours on working days; a slot over the lunch
    # break and one in the past are refused, each naming its slot
    first, second = working_slots(2)
    lunch = working_slots(1, hour=12)[0]
    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    bad = api.post(
        f"/api/v1/receptions/{rid}/slots", json={"slots": [first, lunch, past]}, headers=BUREAU
    )
    assert bad.status_code == 422, bad.text
    fields = {e["field"] for e in bad.json()["errors"]}
    assert {"slots[1]", "slots[2]"} <= fields and "slots[0]" not in fields
    assert bad.headers["content-type"].startswith("application/problem+json")
    # Only the bureau proposes
    refused = api.post(f"/api/v1/receptions/{rid}/slots", json={"slots": [first]}, headers=owner)
    assert refused.status_code in (403, 404), refused.text
    proposed = post(
        api,
        f"/api/v1/receptions/{rid}/slots",
        {"slots": [first, second], "duration_minutes": 45},
        BUREAU,
    )
    assert proposed["status"] == "proposed"
    assert set(proposed["unit_ids"]) >= {f"{COUNTY}:petition_bureau", HANDLER_UNIT, *co_units}

    # The handling unit's agency system is invited (joint reception), signed
    def invited() -> list[Any]:
        return [
            x
            for x in receiver.received
            if x.event["type"] == TYPES[0] and x.event["data"]["reception_id"] == rid
        ]

    [invitation] = wait_for(invited)
    assert invitation.verified
    assert invitation.event["data"]["unit_id"] == HANDLER_UNIT
    assert invitation.event["data"]["role"] == "lead"

    # The petitioner confirms one of the proposed slots (and only one of them)
    wrong = api.post(
        f"/api/v1/receptions/{rid}/confirm",
        json={"starts_at": working_slots(1, 15)[0]},
        headers=owner,
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "starts_at"
    scheduled = post(api, f"/api/v1/receptions/{rid}/confirm", {"starts_at": second}, owner)
    assert scheduled["status"] == "scheduled"
    assert datetime.fromisoformat(scheduled["starts_at"]) == datetime.fromisoformat(second)
    assert rid in scheduled["meeting_url"]

    # The operators' list of upcoming receptions (the console's) shows it
    upcoming = api.get(
        "/api/v1/receptions", params={"state": "upcoming", "region": COUNTY}, headers=OPERATOR
    )
    assert upcoming.status_code == 200, upcoming.text
    assert rid in [x["id"] for x in upcoming.json()["items"]]

    # Not over yet: nothing to record. The bureau reschedules; the petitioner confirms again
    early = api.post(
        f"/api/v1/receptions/{rid}/record",
        json={"outcome": "held", "minutes": "…", "summary": "…"},
        headers=BUREAU,
    )
    assert early.status_code == 409, early.text
    third = working_slots(3, hour=14)[2]
    moved = post(
        api,
        f"/api/v1/receptions/{rid}/reschedule",
        {"reason": "承办单位负责人出差", "slots": [third]},
        BUREAU,
    )
    assert (moved["status"], moved["reschedules"]) == ("proposed", 1)
    post(api, f"/api/v1/receptions/{rid}/confirm", {"starts_at": third}, owner)

    # Ahead of the start, the units are reminded (once per lead)
    move_start(suite, rid, datetime.now(UTC) + timedelta(minutes=30))

    def reminded() -> list[Any]:
        return [
            x
            for x in receiver.received
            if x.event["type"] == TYPES[2] and x.event["data"]["reception_id"] == rid
        ]

    [reminder] = wait_for(reminded)
    assert reminder.event["data"]["unit_id"] == HANDLER_UNIT

    # After it, the bureau records it: the summary is public, the minutes internal
    move_start(suite, rid, datetime.now(UTC) - timedelta(hours=2))
    minutes = "信访人陈述：工资拖欠三个月。人社局：已立案调查。内部记录" + uuid.uuid4().hex[:6]
    held = post(
        api,
        f"/api/v1/receptions/{rid}/record",
        {
            "outcome": "held",
            "attendees": [
                {"name": "王科长", "unit_id": HANDLER_UNIT, "role": "承办单位"},
                {"name": "李主任", "unit_id": f"{COUNTY}:petition_bureau", "role": "信访局"},
            ],
            "minutes": minutes,
            "summary": "联合接访已进行，人社局承诺十个工作日内督促企业支付欠薪。",
            "actions": [{"text": "督促企业支付欠薪", "unit_id": HANDLER_UNIT}],
        },
        BUREAU,
    )
    assert held["status"] == "held"
    public = timeline(api, number, owner)
    notes = " ".join(e["note"] for e in public)
    assert "人社局承诺十个工作日内督促企业支付欠薪" in notes and minutes not in notes
    internal = " ".join(e["note"] for e in timeline(api, number, HANDLER))
    assert minutes in internal
    mine = api.get(f"/api/v1/cases/{number}/receptions", headers=owner).json()["items"]
    assert mine[0]["status"] == "held" and not mine[0].get("minutes")
    wait_for(
        lambda: [
            x
            for x in receiver.received
            if x.event["type"] == TYPES[3] and x.event["data"]["reception_id"] == rid
        ]
    )

    # A second reception of the same case: the petitioner does not come
    rid2 = post(api, f"/api/v1/cases/{number}/receptions", {}, HANDLER)["id"]
    slot = working_slots(1, hour=9)[0]
    post(api, f"/api/v1/receptions/{rid2}/slots", {"slots": [slot]}, BUREAU)
    post(api, f"/api/v1/receptions/{rid2}/confirm", {"starts_at": slot}, HANDLER)
    move_start(suite, rid2, datetime.now(UTC) - timedelta(hours=3))
    assert (
        post(api, f"/api/v1/receptions/{rid2}/record", {"outcome": "no_show"}, BUREAU)["status"]
        == "no_show"
    )
    assert "did not attend" in " ".join(e["note"] for e in timeline(api, number, owner))

    # A reception on another case, cancelled by the petitioner
    other = routed_case(api, owner)
    rid3 = post(api, f"/api/v1/cases/{other}/receptions", {}, owner)["id"]
    cancelled = post(api, f"/api/v1/receptions/{rid3}/cancel", {"reason": "问题已解决"}, owner)
    assert cancelled["status"] == "cancelled"
    late = api.post(f"/api/v1/receptions/{rid3}/confirm", json={"starts_at": slot}, headers=owner)
    assert late.status_code in (409, 422), late.text

    # The situation view counts them in the county
    def counted() -> Any:
        r = api.get("/api/v1/analytics/situation", params={"region": COUNTY}, headers=OPERATOR)
        assert r.status_code == 200, r.text
        got = r.json()["receptions"]
        return got if (got["held"], got["no_show"], got["cancelled"]) == (1, 1, 1) else None

    assert wait_for(counted)["total"] == 3
