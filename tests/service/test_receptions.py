"""Video and joint receptions, themed-channel petitions and grid workers' proactive cases in
tracking, against a real database (SQLite and PostgreSQL): the answers and problems each
caller gets, what each step writes (reception, timeline public and internal, outbox events,
webhook deliveries per invited unit), reminders once per lead, the channel's response clock
and the queue order."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from shared import querycode
from shared.auth import mint_token
from shared.contracts import PetitionSubmitted
from shared.db import Database
from shared.events import new_envelope
from shared.lookup import QueryCodeGate
from shared.service import install_http_basics
from shared.vocabulary import CST
from tests.service.tracking_db import (
    SETTINGS,
    add_case,
    empty,
    events,
    migrated_database,
    rows,
)
from tracking import actions
from tracking.api import router as cases_router
from tracking.clocks import calendar_of, today_cst
from tracking.handlers import handlers
from tracking.models import cases, clocks, receptions, timeline, webhook_deliveries
from tracking.models import webhook_subscriptions as subscriptions
from tracking.receptions import remind
from tracking.receptions_api import router
from tracking.scheduler import scan


def token(role: str, sub: str = "someone", **claims: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(SETTINGS, role=role, sub=sub, **claims)}


PETITIONER = token("petitioner", "p-1")
STRANGER = token("petitioner", "p-2")
LEAD = token("unit", unit_id="110107:hrss")
CO = token("unit", unit_id="110107:housing")
BUREAU = token("unit", unit_id="110107:petition_bureau")
CITY_BUREAU = token("unit", unit_id="1101:petition_bureau")
OTHER_BUREAU = token("unit", unit_id="110108:petition_bureau")
OPERATOR = token("operator", "op-bj", region_code="110000")
SHANGHAI = token("operator", "op-sh", region_code="310000")
GRID = token("grid_worker", "gw-7")
UNITS = ["110107:petition_bureau", "110107:hrss", "110107:housing"]
CODE = querycode.new_code()


@pytest.fixture(scope="module")
def code_hash() -> str:
    return querycode.hash_code(CODE)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    async with migrated_database(request.param, tmp_path_factory.mktemp("receptions")) as db:
        yield db


@pytest.fixture
async def db(migrated: Database) -> Database:
    return await empty(migrated)


@pytest.fixture
async def api(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_http_basics(app, "tracking")
    for r in (cases_router, actions.router, router):
        app.include_router(r)
    app.state.db, app.state.settings = db, SETTINGS
    app.state.gate = QueryCodeGate(100)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tracking") as client:
        yield client


async def a_case(db: Database, code_hash: str = "h", **values: Any) -> str:
    """A case of petitioner p-1 at 110107:hrss, co-handled by 110107:housing."""
    case_id = await add_case(db, clock=None)
    async with db.transaction() as s:
        await s.execute(
            update(cases)
            .where(cases.c.id == case_id)
            .values(
                **{
                    "owner_ref": "p-1",
                    "co_unit_ids": ["110107:housing"],
                    "query_code_hash": code_hash,
                    **values,
                }
            )
        )
    return (await rows(db, cases, cases.c.id == case_id))[0].tracking_number


async def subscribe(db: Database, *units: str) -> None:
    async with db.transaction() as s:
        for unit in units:
            await s.execute(
                subscriptions.insert().values(
                    id=str(uuid.uuid4()),
                    unit_id=unit,
                    url="https://agency.example/hook",
                    secret="x",
                    event_types=["*"],
                    created_by="test",
                    created_at=datetime.now(UTC),
                )
            )


def slot(days: int = 7, hour: int = 10) -> datetime:
    """10:00 China time on the first working day ``days`` from now."""
    day = (datetime.now(UTC) + timedelta(days=days)).astimezone(CST).date()
    calendar = calendar_of(SETTINGS)
    while not calendar.is_workday(day):
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, 0, tzinfo=CST)


def field(answer: httpx.Response) -> str:
    assert answer.headers["content-type"] == "application/problem+json", answer.text
    return answer.json()["errors"][0]["field"]


async def case_id_of(db: Database, number: str) -> str:
    return (await rows(db, cases, cases.c.tracking_number == number))[0].id


async def test_a_video_reception_from_request_to_record(
    api: httpx.AsyncClient, db: Database, code_hash: str
) -> None:
    number = await a_case(db, code_hash)
    case_id = await case_id_of(db, number)
    await subscribe(db, *UNITS, "110108:hrss")
    base = f"/api/v1/cases/{number}/receptions"

    assert (await api.post(base, json={}, headers=STRANGER)).status_code == 404
    assert (await api.post(base, json={}, headers=CO)).status_code == 403  # co-handler
    long = await api.post(base, json={"reason": "x" * 1001}, headers=PETITIONER)
    assert long.status_code == 422 and field(long) == "reason"
    made = await api.post(base, json={"reason": "face to face"}, headers=PETITIONER)
    assert made.status_code == 201, made.text
    rec = made.json()
    assert (rec["status"], rec["bureau_unit_id"], rec["requested_by"]) == (
        "requested",
        "110107:petition_bureau",
        "petitioner",
    )
    assert rec["unit_ids"] == UNITS and "minutes" not in rec
    again = await api.post(base, json={}, headers=LEAD)
    assert again.status_code == 409 and again.json()["reception_id"] == rec["id"]

    url = f"/api/v1/receptions/{rec['id']}"
    good = {"slots": [slot().isoformat(), slot(8, 14).isoformat()], "duration_minutes": 60}
    assert (await api.post(f"{url}/slots", json=good, headers=LEAD)).status_code == 403
    assert (await api.post(f"{url}/slots", json=good, headers=OTHER_BUREAU)).status_code == 404
    lunch = await api.post(
        f"{url}/slots",
        json={"slots": [slot().isoformat(), slot(hour=11).isoformat()], "duration_minutes": 90},
        headers=BUREAU,
    )
    assert lunch.status_code == 422 and field(lunch) == "slots[1]"
    assert "straddle" in lunch.json()["errors"][0]["message"]
    past = await api.post(
        f"{url}/slots", json={"slots": ["2020-03-02T10:00:00+08:00"]}, headers=BUREAU
    )
    assert past.status_code == 422 and field(past) == "slots[0]"
    too_long = await api.post(
        f"{url}/slots", json={**good, "duration_minutes": 300}, headers=BUREAU
    )
    assert too_long.status_code == 422 and field(too_long) == "duration_minutes"

    proposed = await api.post(f"{url}/slots", json=good, headers=CITY_BUREAU)
    assert proposed.status_code == 200, proposed.text
    assert proposed.json()["status"] == "proposed" and len(proposed.json()["slots"]) == 2
    invited = [e for e in await events(db, case_id) if e["type"].endswith("invited.v1")]
    assert [(e["data"]["unit_id"], e["data"]["role"]) for e in invited] == [
        ("110107:petition_bureau", "bureau"),
        ("110107:hrss", "lead"),
        ("110107:housing", "co"),
    ]
    sent = await rows(db, webhook_deliveries, webhook_deliveries.c.event_type.like("%invited%"))
    assert sorted(d.unit_id for d in sent) == sorted(UNITS)  # one each, none for 110108

    wrong = await api.post(
        f"{url}/confirm", json={"starts_at": slot(hour=9).isoformat()}, headers=PETITIONER
    )
    assert wrong.status_code == 422 and field(wrong) == "starts_at"
    assert (
        await api.post(f"{url}/confirm", json={"starts_at": good["slots"][0]}, headers=STRANGER)
    ).status_code == 404
    confirmed = await api.post(
        f"{url}/confirm",
        json={"starts_at": slot().astimezone(UTC).isoformat()},  # the same moment, in UTC
        headers=PETITIONER,
    )
    assert confirmed.status_code == 200, confirmed.text
    body = confirmed.json()
    assert body["status"] == "scheduled"
    assert body["starts_at"] == slot().astimezone(UTC).isoformat()
    assert body["meeting_url"] == f"https://meeting.invalid/xinfang/{rec['id']}"
    scheduled = [e for e in await events(db, case_id) if e["type"].endswith("scheduled.v1")]
    assert scheduled[0]["data"]["unit_ids"] == UNITS
    sent = await rows(db, webhook_deliveries, webhook_deliveries.c.event_type.like("%scheduled%"))
    assert sorted(d.unit_id for d in sent) == sorted(UNITS)  # every unit taking part hears

    record = {"outcome": "held", "summary": "the unit will pay the arrears"}
    early = await api.post(f"{url}/record", json=record, headers=BUREAU)
    assert early.status_code == 409
    async with db.transaction() as s:  # the meeting took place
        await s.execute(
            update(receptions)
            .where(receptions.c.id == rec["id"])
            .values(starts_at=datetime.now(UTC) - timedelta(hours=1))
        )
    no_minutes = await api.post(f"{url}/record", json=record, headers=BUREAU)
    assert no_minutes.status_code == 422 and field(no_minutes) == "minutes"
    assert (await api.post(f"{url}/record", json=record, headers=LEAD)).status_code == 403
    full = {
        **record,
        "minutes": "the employer's representative admitted the debt",
        "attendees": [
            {"name": "王科长", "unit_id": "110107:hrss", "role": "lead"},
            {"name": "petitioner", "role": "petitioner"},
        ],
        "actions": [{"text": "pay the arrears", "unit_id": "110107:hrss", "due": "2030-01-31"}],
    }
    held = await api.post(f"{url}/record", json=full, headers=BUREAU)
    assert held.status_code == 200, held.text
    assert held.json()["status"] == "held" and held.json()["minutes"] == full["minutes"]
    twice = await api.post(f"{url}/record", json=full, headers=BUREAU)
    assert twice.status_code == 409 and twice.json()["reception_status"] == "held"

    notes = await rows(db, timeline, timeline.c.case_id == case_id)
    public = [n.note for n in notes if n.public]
    internal = [n.note for n in notes if not n.public]
    assert public[0] == "video reception requested"
    assert any(n.startswith("video reception scheduled for ") for n in public)
    assert any("the unit will pay the arrears" in n for n in public)
    assert not any("admitted the debt" in n for n in public)
    assert any("admitted the debt" in n for n in internal)
    assert any("agreed action: pay the arrears (110107:hrss), by 2030-01-31" in n for n in internal)

    types = [e["type"] for e in await events(db, case_id)]
    assert types[0] == "tracking.reception.requested.v1"
    assert types[-1] == "tracking.reception.held.v1"
    assert "tracking.notification.requested.v1" in types  # the petitioner told of the slots
    held_event = (await events(db, case_id))[-1]["data"]
    assert (held_event["attendees"], held_event["actions"]) == (2, ["pay the arrears"])
    assert "minutes" not in held_event

    # The petitioner and a query-code reader see the summary, never the minutes
    for reader in (
        api.get(base, headers=PETITIONER),
        api.get(base, params={"query_code": CODE}),
    ):
        mine = (await reader).json()["items"][0]
        assert mine["summary"] == record["summary"] and "minutes" not in mine
    assert (await api.get(base, params={"query_code": "WRONG123"})).status_code == 404
    staff = (await api.get(base, headers=OPERATOR)).json()["items"][0]
    assert staff["minutes"] == full["minutes"]
    assert (await api.get(base, headers=SHANGHAI)).status_code == 404
    # A new one may be requested once the last is over
    assert (await api.post(base, json={}, headers=BUREAU)).status_code == 201


async def test_a_case_not_at_a_unit_or_concluded_takes_no_reception(
    api: httpx.AsyncClient, db: Database
) -> None:
    waiting = await a_case(db, unit_id=None, status="received")
    done = await a_case(db, status="closed")
    for number in (waiting, done):
        answer = await api.post(f"/api/v1/cases/{number}/receptions", json={}, headers=OPERATOR)
        assert answer.status_code == 409, answer.text
        assert answer.json()["case_status"] in ("received", "closed")


async def test_rescheduling_and_cancelling(api: httpx.AsyncClient, db: Database) -> None:
    number = await a_case(db)
    case_id = await case_id_of(db, number)
    rid = (await api.post(f"/api/v1/cases/{number}/receptions", json={}, headers=LEAD)).json()["id"]
    url = f"/api/v1/receptions/{rid}"
    await api.post(f"{url}/slots", json={"slots": [slot().isoformat()]}, headers=BUREAU)
    await api.post(f"{url}/confirm", json={"starts_at": slot().isoformat()}, headers=LEAD)

    no_slots = await api.post(f"{url}/reschedule", json={"reason": "ill"}, headers=BUREAU)
    assert no_slots.status_code == 422 and field(no_slots) == "slots"
    moved = await api.post(
        f"{url}/reschedule",
        json={"reason": "the director is away", "slots": [slot(9).isoformat()]},
        headers=BUREAU,
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["status"], moved.json()["reschedules"]) == ("proposed", 1)
    assert moved.json()["starts_at"] is None and moved.json()["meeting_url"] is None
    invited = [e for e in await events(db, case_id) if e["type"].endswith("invited.v1")]
    assert len(invited) == 6  # the three units invited twice

    mine = await api.post(
        f"{url}/reschedule",
        json={"reason": "I work then", "slots": [slot(10).isoformat()]},
        headers=PETITIONER,
    )
    assert mine.status_code == 422 and field(mine) == "slots"
    mine = await api.post(f"{url}/reschedule", json={"reason": "I work then"}, headers=PETITIONER)
    assert (mine.json()["status"], mine.json()["reschedules"]) == ("requested", 2)
    assert (await api.post(f"{url}/cancel", json={"reason": "no"}, headers=LEAD)).status_code == 403
    gone = await api.post(f"{url}/cancel", json={"reason": "settled"}, headers=PETITIONER)
    assert gone.status_code == 200 and gone.json()["status"] == "cancelled"
    assert gone.json()["cancel_reason"] == "settled"
    again = await api.post(f"{url}/cancel", json={"reason": "settled"}, headers=PETITIONER)
    assert again.status_code == 409 and again.json()["reception_status"] == "cancelled"
    types = [e["type"] for e in await events(db, case_id)]
    assert types.count("tracking.reception.requested.v1") == 2  # the bureau proposes again
    assert types[-1] == "tracking.reception.cancelled.v1"
    public = [n.note for n in await rows(db, timeline, timeline.c.case_id == case_id) if n.public]
    assert any("rescheduled by the petition bureau" in n for n in public)
    assert public[-1] == "video reception cancelled by the petitioner: settled"


async def scheduled(api: httpx.AsyncClient, number: str, headers: dict[str, str]) -> str:
    rid = (await api.post(f"/api/v1/cases/{number}/receptions", json={}, headers=headers)).json()[
        "id"
    ]
    url = f"/api/v1/receptions/{rid}"
    assert (
        await api.post(f"{url}/slots", json={"slots": [slot().isoformat()]}, headers=BUREAU)
    ).status_code == 200
    confirmed = await api.post(
        f"{url}/confirm", json={"starts_at": slot().isoformat()}, headers=LEAD
    )
    assert confirmed.status_code == 200, confirmed.text
    return rid


async def test_reminders_go_once_per_lead_to_each_unit_and_the_petitioner(
    api: httpx.AsyncClient, db: Database
) -> None:
    number = await a_case(db)
    case_id = await case_id_of(db, number)
    report = await a_case(db, owner_ref="gw-7", proactive=True, channel="grid")
    await subscribe(db, *UNITS)
    await scheduled(api, number, PETITIONER)
    await scheduled(api, report, LEAD)
    start = slot().astimezone(UTC)

    assert await remind(db, SETTINGS, start - timedelta(days=2)) == 0
    day_before = start - timedelta(minutes=1430)
    assert await remind(db, SETTINGS, day_before) == 2
    assert await remind(db, SETTINGS, day_before) == 0  # once per lead
    assert await remind(db, SETTINGS, start - timedelta(minutes=59)) == 2
    assert await remind(db, SETTINGS, start - timedelta(minutes=30)) == 0
    assert await remind(db, SETTINGS, start + timedelta(minutes=1)) == 0

    reminders = [e["data"] for e in await events(db, case_id) if "reminder" in e["type"]]
    assert sorted((r["lead_minutes"], r["unit_id"]) for r in reminders) == sorted(
        (lead, unit) for lead in (1440, 60) for unit in UNITS
    )
    told = [
        e["data"]
        for e in await events(db, case_id)
        if e["data"].get("template") == "reception.reminder"
    ]
    assert [t["params"]["lead_minutes"] for t in told] == ["1440", "60"]
    assert told[0]["recipient_ref"] == "p-1"
    report_id = await case_id_of(db, report)
    report_events = await events(db, report_id)
    assert not [e for e in report_events if e["type"] == "tracking.notification.requested.v1"]
    assert len([e for e in report_events if "reminder" in e["type"]]) == 6
    (row,) = await rows(db, receptions, receptions.c.case_id == case_id)
    assert sorted(row.reminders_sent) == [60, 1440]
    sent = await rows(db, webhook_deliveries, webhook_deliveries.c.event_type.like("%reminder%"))
    assert len(sent) == 12  # two receptions, three units, two leads


async def test_the_console_lists_upcoming_and_pending_receptions(
    api: httpx.AsyncClient, db: Database
) -> None:
    first = await a_case(db)
    second = await a_case(db)
    rid = await scheduled(api, first, PETITIONER)
    pending = (
        await api.post(f"/api/v1/cases/{second}/receptions", json={}, headers=PETITIONER)
    ).json()["id"]
    up = await api.get("/api/v1/receptions", headers=OPERATOR)
    assert [r["id"] for r in up.json()["items"]] == [rid]
    assert up.json()["items"][0]["meeting_url"]
    waiting = await api.get("/api/v1/receptions", params={"state": "pending"}, headers=OPERATOR)
    assert [r["id"] for r in waiting.json()["items"]] == [pending]
    every = await api.get("/api/v1/receptions", params={"state": "all"}, headers=CO)
    assert {r["id"] for r in every.json()["items"]} == {rid, pending}
    assert (await api.get("/api/v1/receptions", headers=SHANGHAI)).json()["items"] == []
    other = token("unit", unit_id="110108:hrss")
    assert (await api.get("/api/v1/receptions", headers=other)).json()["items"] == []
    assert (await api.get(f"/api/v1/receptions/{rid}", headers=other)).status_code == 404
    assert (
        await api.get("/api/v1/receptions", params={"unit_id": "110107:hrss"}, headers=CO)
    ).status_code == 403
    assert (
        await api.get("/api/v1/receptions", params={"region": "31"}, headers=OPERATOR)
    ).status_code == 403
    assert (await api.get("/api/v1/receptions", headers=PETITIONER)).status_code == 403
    assert (await api.get(f"/api/v1/receptions/{rid}", headers=PETITIONER)).status_code == 200


# --- themed channels and proactive cases --------------------------------------------------


async def submit(db: Database, **values: Any) -> str:
    petition_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    data = PetitionSubmitted(
        **{
            "petition_id": petition_id,
            "tracking_number": f"110107{now:%Y%m%d}{uuid.uuid4().int % 10**4:04d}",
            "kind": "grievance",
            "channel": "web",
            "title": "拖欠工资",
            "content": "...",
            "region_code": "110107",
            "owner_ref": "p-1",
            "query_code_hash": "h",
            "received_at": now,
            "submitted_at": now,
            **values,
        }
    )
    envelope = new_envelope(data, subject=petition_id, correlation_id=petition_id)
    on_submitted = handlers(SETTINGS)[PetitionSubmitted.TYPE]
    async with db.transaction() as s:
        await on_submitted(s, envelope, data)
    return petition_id


async def route(db: Database, case_id: str, unit_id: str = "110107:hrss") -> str:
    async with db.transaction() as s:
        await s.execute(
            update(cases)
            .where(cases.c.id == case_id)
            .values(status="routed", unit_id=unit_id, routed_at=datetime.now(UTC))
        )
    return (await rows(db, cases, cases.c.id == case_id))[0].tracking_number


async def test_a_themed_petition_jumps_the_queue_and_has_its_own_response_clock(
    api: httpx.AsyncClient, db: Database
) -> None:
    plain = await route(db, await submit(db))
    themed_id = await submit(
        db,
        theme="wage_arrears",
        priority=2,
        target_response_hours=48,
        theme_fields={"employer": "某建筑公司", "amount": 12000},
        representatives=3,
    )
    themed = await route(db, themed_id)
    inbox = await api.get("/api/v1/units/110107:hrss/cases", headers=LEAD)
    assert [c["tracking_number"] for c in inbox.json()["items"]] == [themed, plain]
    assert inbox.json()["items"][0]["priority"] == 2
    page = await api.get("/api/v1/units/110107:hrss/cases", params={"limit": 1}, headers=LEAD)
    after = page.json()["next_cursor"]
    rest = await api.get(
        "/api/v1/units/110107:hrss/cases", params={"limit": 1, "cursor": after}, headers=LEAD
    )
    assert [c["tracking_number"] for c in rest.json()["items"]] == [plain]

    (clock,) = await rows(db, clocks, clocks.c.case_id == themed_id)
    assert clock.kind == "theme_response" and clock.due_at is not None
    (case,) = await rows(db, cases, cases.c.id == themed_id)
    assert clock.due_at == case.received_at + timedelta(hours=48)
    assert clock.due == clock.due_at.astimezone(CST).date()

    view = (await api.get(f"/api/v1/cases/{themed}", headers=LEAD)).json()
    assert view["theme"]["code"] == "wage_arrears" and view["theme"]["priority"] == 2
    assert view["theme"]["response_due_at"] == clock.due_at.isoformat()
    assert view["theme"]["response_met"] is None
    assert view["theme_fields"] == {"employer": "某建筑公司", "amount": 12000}
    assert (view["representatives"], view["proactive"]) == (3, False)
    mine = (await api.get(f"/api/v1/cases/{themed}", headers=PETITIONER)).json()
    assert mine["theme_fields"]["employer"] == "某建筑公司"

    accepted = await api.post(f"/api/v1/cases/{themed}/accept", json={}, headers=LEAD)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["theme"]["response_met"] is True
    (clock,) = await rows(
        db, clocks, clocks.c.case_id == themed_id, clocks.c.kind == "theme_response"
    )
    assert clock.stopped_at is not None and clock.met is True


async def test_a_missed_channel_response_time_goes_overdue_at_its_moment(db: Database) -> None:
    case_id = await submit(db, theme="urgent", priority=1, target_response_hours=4)
    await route(db, case_id)
    (clock,) = await rows(db, clocks, clocks.c.case_id == case_id)
    day = today_cst(clock.due_at)
    before = await scan(db, SETTINGS, day, now=clock.due_at - timedelta(minutes=1))
    assert before.overdue == 0
    after = await scan(db, SETTINGS, day, now=clock.due_at + timedelta(minutes=1))
    assert after.overdue == 1
    overdue = [e["data"] for e in await events(db, case_id) if "clock.overdue" in e["type"]]
    assert [(o["clock"], o["due"]) for o in overdue] == [("theme_response", day.isoformat())]
    again = await scan(db, SETTINGS, day, now=clock.due_at + timedelta(minutes=2))
    assert again.overdue == 0


async def test_a_grid_workers_report_is_theirs_to_read_and_tells_no_petitioner(
    api: httpx.AsyncClient, db: Database
) -> None:
    case_id = await submit(db, channel="grid", proactive=True, owner_ref="gw-7")
    other = await submit(db, owner_ref="gw-7")  # not a proactive case: not the worker's to read
    number = await route(db, case_id)
    first = (await rows(db, timeline, timeline.c.case_id == case_id))[0]
    assert "grid worker on rounds" in first.note and first.public

    view = await api.get(f"/api/v1/cases/{number}", headers=GRID)
    assert view.status_code == 200 and view.json()["proactive"] is True
    assert (
        await api.get(f"/api/v1/cases/{number}", headers=token("grid_worker", "gw-8"))
    ).status_code == 404
    listed = await api.get("/api/v1/me/cases", headers=GRID)
    assert [c["tracking_number"] for c in listed.json()["items"]] == [number]
    assert other

    accepted = await api.post(f"/api/v1/cases/{number}/accept", json={}, headers=LEAD)
    assert accepted.status_code == 200, accepted.text
    types = [e["type"] for e in await events(db, case_id)]
    assert "tracking.case.status_changed.v1" in types
    assert "tracking.notification.requested.v1" not in types
