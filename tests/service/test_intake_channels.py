"""Themed channels (专题通道), grid workers' reports (源头化解) and any matter at any window
(无差别受理), against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from intake.main import create_app
from intake.models import messaging, petitions
from shared.auth import mint_token
from shared.settings import CommonSettings
from tests.e2e.conftest import petition


@pytest.fixture
async def intake(
    database_url: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch, bootstrap_servers: str
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    monkeypatch.setenv("XINFANG_INTAKE_DATABASE_URL", database_url)
    monkeypatch.setenv("XINFANG_TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("XINFANG_KAFKA_BOOTSTRAP_SERVERS", bootstrap_servers)
    app = create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            yield client, app


def token(role: str, sub: str, **claims: str) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(CommonSettings(), role=role, sub=sub, **claims)}


OPERATOR = token("operator", "op-1")
PETITIONER = token("petitioner", "citizen-1")
GRID = token("grid_worker", "gw-7", region_code="110107")
CLERK = token("unit", "clerk-1", unit_id="320102:hrss")


def wage_channel(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": "wage-winter-2026",
        "name": "根治欠薪冬季专项行动",
        "description": "岁末年初农民工工资专项受理",
        "region_code": "110107",
        "default_category": "wage_arrears",
        "priority": 3,
        "target_response_hours": 24,
        "fields": [
            {"name": "employer", "label": "用工单位", "type": "string", "required": True},
            {"name": "workers", "label": "涉及人数", "type": "integer", "min": 1, "max": 1000},
            {"name": "sector", "label": "行业", "type": "enum", "options": ["建筑", "制造"]},
        ],
        "routing_overrides": [
            {"category": "wage_arrears", "region_code": "110107", "unit_id": "110107:hrss"},
            {"unit_id": "110107:petition_bureau"},
        ],
    }
    body.update(over)
    return body


def problem_field(r: httpx.Response) -> str:
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    return r.json()["errors"][0]["field"]


async def submitted(app: Any) -> list[dict[str, Any]]:
    async with app.state.db.sessions() as s:
        rows = (
            await s.execute(
                select(messaging.outbox.c.value)
                .where(messaging.outbox.c.type == "intake.petition.submitted.v1")
                .order_by(messaging.outbox.c.id)
            )
        ).scalars()
        return [json.loads(v)["data"] for v in rows]


async def row_of(app: Any, petition_id: str) -> Any:
    async with app.state.db.sessions() as s:
        return (await s.execute(select(petitions).where(petitions.c.id == petition_id))).one()


async def test_operators_open_change_and_close_channels(intake) -> None:  # type: ignore[no-untyped-def]
    client, _app = intake
    r = await client.post("/api/v1/channels", json=wage_channel(), headers=OPERATOR)
    assert r.status_code == 201, r.text
    opened = r.json()
    assert opened["state"] == "open" and opened["priority"] == 3
    assert opened["fields"][0]["max_length"] == 500 and opened["closed_at"] is None

    again = await client.post("/api/v1/channels", json=wage_channel(), headers=OPERATOR)
    assert again.status_code == 409 and problem_field(again) == "code"
    for headers in (PETITIONER, GRID):
        r = await client.post("/api/v1/channels", json=wage_channel(code="x-1"), headers=headers)
        assert r.status_code == 403
    regional = token("operator", "op-sh", region_code="320000")
    r = await client.post("/api/v1/channels", json=wage_channel(code="x-2"), headers=regional)
    assert r.status_code == 403 and problem_field(r) == "region_code"
    r = await client.post(
        "/api/v1/channels", json=wage_channel(code="x-3", region_code=None), headers=regional
    )
    assert r.status_code == 403 and problem_field(r) == "region_code"
    r = await client.post(
        "/api/v1/channels",
        json=wage_channel(code="nanjing-flood", region_code="320102"),
        headers=regional,
    )
    assert r.status_code == 201
    now = datetime.now(UTC)
    r = await client.post(
        "/api/v1/channels",
        json=wage_channel(
            code="spring",
            opens_at=(now + timedelta(days=10)).isoformat(),
            closes_at=(now + timedelta(days=5)).isoformat(),
        ),
        headers=OPERATOR,
    )
    assert r.status_code == 422 and problem_field(r) == "closes_at"
    r = await client.post(
        "/api/v1/channels",
        json=wage_channel(code="spring", opens_at=(now + timedelta(days=10)).isoformat()),
        headers=OPERATOR,
    )
    assert r.json()["state"] == "scheduled"
    r = await client.post("/api/v1/channels", json=wage_channel(code="Bad Code"), headers=OPERATOR)
    assert r.status_code == 422 and problem_field(r) == "code"

    listed = await client.get("/api/v1/channels")  # no token: petitioners' apps list them
    # the latest opened first
    assert [c["code"] for c in listed.json()["channels"]] == ["nanjing-flood", "wage-winter-2026"]
    scheduled = await client.get("/api/v1/channels", params={"state": "all"})
    assert len(scheduled.json()["channels"]) == 3
    assert (await client.get("/api/v1/channels/nope")).status_code == 404

    r = await client.patch(
        "/api/v1/channels/wage-winter-2026",
        json={"priority": 5, "description": None, "routing_overrides": []},
        headers=OPERATOR,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["priority"], r.json()["description"], r.json()["routing_overrides"]) == (
        5,
        None,
        [],
    )
    r = await client.patch(
        "/api/v1/channels/wage-winter-2026", json={"priority": 11}, headers=OPERATOR
    )
    assert r.status_code == 422 and problem_field(r) == "priority"
    r = await client.patch(
        "/api/v1/channels/wage-winter-2026", json={"name": "改名"}, headers=regional
    )
    assert r.status_code == 403

    closed = await client.post("/api/v1/channels/wage-winter-2026/close", headers=OPERATOR)
    assert closed.status_code == 200 and closed.json()["state"] == "closed"
    twice = await client.post("/api/v1/channels/wage-winter-2026/close", headers=OPERATOR)
    assert twice.status_code == 409 and problem_field(twice) == "code"
    r = await client.patch(
        "/api/v1/channels/wage-winter-2026", json={"name": "改名"}, headers=OPERATOR
    )
    assert r.status_code == 409
    gone = await client.get("/api/v1/channels", params={"state": "closed"})
    assert [c["code"] for c in gone.json()["channels"]] == ["wage-winter-2026"]


async def test_a_petition_through_a_channel(intake) -> None:  # type: ignore[no-untyped-def]
    client, app = intake
    await client.post("/api/v1/channels", json=wage_channel(), headers=OPERATOR)
    body = petition(
        category=None,
        theme="wage-winter-2026",
        theme_fields={"employer": "某建筑公司 联系张三13812345678", "workers": 30},
    )
    r = await client.post("/api/v1/petitions", json=body, headers=PETITIONER)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["theme"] == "wage-winter-2026" and created["region_code"] == "110107011"
    assert (created["category"], created["category_source"]) == ("wage_arrears", "channel")
    assert created["litigation"] is False and created["proactive"] is False
    assert created["routing_unit_id"] == "110107:hrss"

    event = (await submitted(app))[-1]
    assert event["theme"] == "wage-winter-2026" and event["priority"] == 3
    assert event["target_response_hours"] == 24 and event["routing_unit_id"] == "110107:hrss"
    assert event["theme_fields"]["workers"] == 30
    assert "13812345678" not in json.dumps(event, ensure_ascii=False)
    assert "张三" not in event["theme_fields"]["employer"]

    row = await row_of(app, created["petition_id"])
    assert (row.theme, row.priority, row.routing_unit_id) == ("wage-winter-2026", 3, "110107:hrss")
    assert "某建筑公司" not in row.theme_fields_enc
    clear = app.state.cipher.decrypt(row.theme_fields_enc, context=f"{row.id}:theme_fields")
    assert json.loads(clear) == {"employer": "某建筑公司 联系张三13812345678", "workers": 30}

    plain = await client.post("/api/v1/petitions", json=petition(), headers=PETITIONER)
    assert plain.json()["theme"] is None
    assert (await submitted(app))[-1]["priority"] == 0


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"theme": "no-such-channel"}, "theme"),
        ({"theme_fields": {"employer": "x"}}, "theme_fields"),
        ({"theme": "wage-winter-2026", "theme_fields": {}}, "theme_fields.employer"),
        (
            {"theme": "wage-winter-2026", "theme_fields": {"employer": "x", "boss": "y"}},
            "theme_fields.boss",
        ),
        (
            {"theme": "wage-winter-2026", "theme_fields": {"employer": "x", "workers": 0}},
            "theme_fields.workers",
        ),
        (
            {"theme": "wage-winter-2026", "theme_fields": {"employer": "x", "sector": "农业"}},
            "theme_fields.sector",
        ),
        (
            {
                "theme": "wage-winter-2026",
                "theme_fields": {"employer": "x"},
                "location": {"region_code": "320102"},
            },
            "location.region_code",
        ),
        ({"theme": "spring-2027", "theme_fields": {"employer": "x"}}, "theme"),
    ],
)
async def test_channel_petitions_that_do_not_fit_name_the_field(intake, over, field) -> None:  # type: ignore[no-untyped-def]
    client, app = intake
    await client.post("/api/v1/channels", json=wage_channel(), headers=OPERATOR)
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    await client.post(
        "/api/v1/channels", json=wage_channel(code="spring-2027", opens_at=later), headers=OPERATOR
    )
    r = await client.post("/api/v1/petitions", json=petition(**over), headers=PETITIONER)
    assert r.status_code == 422 and problem_field(r) == field, r.text
    if over.get("theme") == "spring-2027":
        assert "opens on" in r.json()["errors"][0]["message"]
    assert await submitted(app) == []


async def test_a_closed_channel_says_since_when(intake) -> None:  # type: ignore[no-untyped-def]
    client, _app = intake
    await client.post("/api/v1/channels", json=wage_channel(), headers=OPERATOR)
    await client.post("/api/v1/channels/wage-winter-2026/close", headers=OPERATOR)
    body = petition(theme="wage-winter-2026", theme_fields={"employer": "x"})
    r = await client.post("/api/v1/petitions", json=body, headers=PETITIONER)
    assert r.status_code == 422 and problem_field(r) == "theme"
    assert "was closed on" in r.json()["errors"][0]["message"]


def report(**over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "grievance",
        "channel": "grid",
        "title": "路面塌陷",
        "content": "鲁谷路与衙门口路交叉口路面塌陷约一平方米，车辆绕行，夜间无警示，存在安全隐患。",
        "location": {"region_code": "110107011201", "address": "鲁谷路与衙门口路交叉口"},
        "attachments": [
            {
                "name": "hole.jpg",
                "content_type": "image/jpeg",
                "size": 120000,
                "sha256": "a" * 64,
                "url": "https://files.example/hole.jpg",
            }
        ],
    }
    body.update(over)
    return body


async def test_a_grid_worker_reports_what_they_find_on_rounds(intake) -> None:  # type: ignore[no-untyped-def]
    client, app = intake
    r = await client.post("/api/v1/petitions", json=report(), headers=GRID)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["proactive"] is True and created["region_code"] == "110107011"
    event = (await submitted(app))[-1]
    assert event["proactive"] is True and event["channel"] == "grid"
    assert event["owner_ref"] == "gw-7" and event["identity_unclear"] is False
    assert event["region_code"] == "110107011" and "110107011201" in event["location_address"]
    row = await row_of(app, created["petition_id"])
    assert (row.proactive, row.village_code, row.petitioner_key) == (True, "110107011201", None)
    assert row.registered_by == "grid_worker:gw-7" and row.owner_ref == "gw-7"

    url = f"/api/v1/petitions/{created['tracking_number']}"
    assert (await client.get(url, headers=GRID)).status_code == 200
    other = token("grid_worker", "gw-8")
    assert (await client.get(url, headers=other)).status_code == 404

    refused = [
        (report(), PETITIONER, 403, "channel"),
        (petition(), GRID, 403, "channel"),
        (report(location={"region_code": "110108001"}), GRID, 403, "location.region_code"),
        (report(location={"region_code": "110107"}), GRID, 422, "location.region_code"),
        (report(kind="accusation"), GRID, 422, "kind"),
        (report(petitioner={"name": "张三"}), GRID, 422, "petitioner"),
        (report(representatives=[{"name": "李四"}]), GRID, 422, "representatives"),
        (report(anonymous=True, kind="suggestion"), GRID, 422, "anonymous"),
        (
            report(received_at=datetime.now(UTC).isoformat()),
            GRID,
            422,
            "received_at",
        ),
        (
            report(attachments=[{**report()["attachments"][0], "content_type": "application/pdf"}]),
            GRID,
            422,
            "attachments[0].content_type",
        ),
    ]
    for body, headers, status, field in refused:
        r = await client.post("/api/v1/petitions", json=body, headers=headers)
        assert (r.status_code, problem_field(r)) == (status, field), r.text


async def test_the_window_sees_at_once_what_it_registered(intake) -> None:  # type: ignore[no-untyped-def]
    client, app = intake
    court = petition(
        region="110107",
        channel="visit",
        category=None,
        title="合同纠纷案件审理超期",
        content="我的合同纠纷案件去年3月在区法院立案，到现在一年半了还没有开庭审理。",
    )
    headers = {**CLERK, "Idempotency-Key": "window-1"}  # a Nanjing clerk, a Beijing matter
    first = await client.post("/api/v1/petitions", json=court, headers=headers)
    assert first.status_code == 201, first.text
    got = first.json()
    assert got["region_code"] == "110107" and got["category"] == "litigation"
    assert got["litigation"] is True and got["legal_channel"] == "court"
    assert got["legal_channel_name"] and got["classification_matched"]
    assert got["category_source"] == "classifier" and got["collective"] is False
    assert got["repeat_outcome"] is None and got["theme"] is None and got["proactive"] is False
    again = await client.post("/api/v1/petitions", json=court, headers=headers)
    assert again.json() == got and again.headers["Idempotent-Replayed"] == "true"

    group = petition(channel="visit", headcount=30)
    r = await client.post("/api/v1/petitions", json=group, headers=CLERK)
    assert r.status_code == 422 and problem_field(r) == "representatives"
    assert "a group visit of 30 people names 1 to 5 representatives" in r.text
    reps = [{"name": "李四", "phone": "13900000001"}, {"name": "王五", "phone": "13900000002"}]
    r = await client.post(
        "/api/v1/petitions", json={**group, "representatives": reps}, headers=CLERK
    )
    assert r.status_code == 201 and r.json()["collective"] is True
    event = (await submitted(app))[-1]
    assert event["representatives"] == 2 and event["headcount"] == 30
    assert "李四" not in json.dumps(event, ensure_ascii=False)
    few = {**petition(channel="visit", headcount=2), "representatives": reps * 2}
    r = await client.post("/api/v1/petitions", json=few, headers=CLERK)
    assert r.status_code == 422 and problem_field(r) == "representatives"
