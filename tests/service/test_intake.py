"""Intake against a real database (SQLite and PostgreSQL): migrations, tracking-number
sequences under concurrency, the encrypted vault, the outbox event and idempotency."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from intake.main import create_app
from intake.models import messaging, petitions
from shared import tracking_number as numbers
from shared.auth import mint_token
from shared.settings import CommonSettings
from tests.e2e.conftest import petition


@pytest.fixture
async def intake(
    database_url: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch, bootstrap_servers: str
) -> AsyncIterator[tuple[httpx.AsyncClient, object]]:
    monkeypatch.setenv("XINFANG_INTAKE_DATABASE_URL", database_url)
    monkeypatch.setenv("XINFANG_TOPIC_PREFIX", topic_prefix)
    monkeypatch.setenv("XINFANG_KAFKA_BOOTSTRAP_SERVERS", bootstrap_servers)
    app = create_app()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as client:
            yield client, app


def owner(sub: str = "svc-user") -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(CommonSettings(), role="petitioner", sub=sub)}


async def test_concurrent_submissions_get_consecutive_tracking_numbers(intake) -> None:  # type: ignore[no-untyped-def]
    client, _app = intake
    answers = await asyncio.gather(
        *[
            client.post("/api/v1/petitions", json=petition(region="320102"), headers=owner())
            for _ in range(12)
        ]
    )
    assert [a.status_code for a in answers] == [201] * 12
    got = sorted(a.json()["tracking_number"] for a in answers)
    assert all(numbers.is_valid(n) and n.startswith("320102") for n in got)
    assert sorted(int(n[12:17]) for n in got) == list(range(1, 13))


async def test_identity_is_encrypted_at_rest_and_absent_from_the_event(intake) -> None:  # type: ignore[no-untyped-def]
    client, app = intake
    r = await client.post("/api/v1/petitions", json=petition(), headers=owner())
    assert r.status_code == 201
    async with app.state.db.sessions() as s:
        row = (
            await s.execute(select(petitions).where(petitions.c.id == r.json()["petition_id"]))
        ).one()
        event = (await s.execute(select(messaging.outbox.c.value))).scalars().one()
    assert row.name_masked == "张*"
    assert "13812345678" not in row.phone_enc and "张三" not in row.name_enc
    assert app.state.cipher.decrypt(row.phone_enc, context=f"{row.id}:phone") == "13812345678"
    assert r.json()["query_code"] not in row.query_code_hash
    data = json.loads(event)["data"]
    for secret in ("张三", "13812345678", "11010519491231002X", "鲁谷路1号"):
        assert secret not in event
    assert data["owner_ref"] == "svc-user" and data["query_code_hash"] == row.query_code_hash


async def test_idempotency_key_survives_in_the_database(intake) -> None:  # type: ignore[no-untyped-def]
    client, app = intake
    headers = {**owner(), "Idempotency-Key": "svc-1"}
    body = petition()
    first = await client.post("/api/v1/petitions", json=body, headers=headers)
    again = await client.post("/api/v1/petitions", json=body, headers=headers)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    async with app.state.db.sessions() as s:
        count = len((await s.execute(select(petitions.c.id))).all())
    assert count == 1
    other = await client.post("/api/v1/petitions", json=petition(title="不同的事"), headers=headers)
    assert other.status_code == 422


def outbox_events(rows: list[str]) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(v) for v in rows]


async def events_of(app, type_: str) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    async with app.state.db.sessions() as s:
        rows = (
            (
                await s.execute(
                    select(messaging.outbox.c.value)
                    .where(messaging.outbox.c.type == type_)
                    .order_by(messaging.outbox.c.id)
                )
            )
            .scalars()
            .all()
        )
    return outbox_events(list(rows))


async def case_status(app, case_id: str, status: str) -> None:  # type: ignore[no-untyped-def]
    """What tracking announces, applied through intake's own handler."""
    from datetime import UTC, datetime

    from intake.handlers import handlers
    from shared.contracts import CaseStatusChanged
    from shared.events import new_envelope

    data = CaseStatusChanged(
        case_id=case_id,
        tracking_number="x",
        status=status,
        unit_id="110107:petition_bureau",
        changed_at=datetime.now(UTC),
    )
    handler = handlers(CommonSettings())[CaseStatusChanged.TYPE]
    async with app.state.db.transaction() as s:
        await handler(s, new_envelope(data, subject=case_id, correlation_id="t"), data)


async def test_same_petitioner_same_matter_is_linked_then_not_reaccepted(intake) -> None:  # type: ignore[no-untyped-def]
    client, app = intake
    same = petition(content="小区旁边的养猪场污水直排河道，臭气熏天，多次反映没有人管。")
    first = (await client.post("/api/v1/petitions", json=same, headers=owner("rep"))).json()
    await case_status(app, first["petition_id"], "routed")
    second = (await client.post("/api/v1/petitions", json=same, headers=owner("rep"))).json()
    submitted = {
        e["data"]["petition_id"]: e["data"]
        for e in await events_of(app, "intake.petition.submitted.v1")
    }
    assert submitted[second["petition_id"]]["repeat_outcome"] == "linked_duplicate"
    assert submitted[second["petition_id"]]["repeat_of"] == first["petition_id"]
    assert submitted[first["petition_id"]]["repeat_outcome"] is None
    other = (await client.post("/api/v1/petitions", json=same, headers=owner("neighbour"))).json()
    assert (await events_of(app, "intake.petition.submitted.v1"))[-1]["data"][
        "repeat_outcome"
    ] is None, other  # another petitioner: a case of their own

    await case_status(app, first["petition_id"], "closed")
    third = (await client.post("/api/v1/petitions", json=same, headers=owner("rep"))).json()
    last = (await events_of(app, "intake.petition.submitted.v1"))[-1]["data"]
    assert last["petition_id"] == third["petition_id"]
    assert last["repeat_outcome"] == "not_reaccepted"
    assert last["repeat_of_tracking_number"] == first["tracking_number"]


async def test_many_petitioners_on_one_matter_are_flagged_collective(intake) -> None:  # type: ignore[no-untyped-def]
    client, app = intake
    text = "开发商交付的安置房墙体大面积开裂渗水，全小区三百多户业主要求重新鉴定并维修。"
    created = []
    for n in range(5):  # XINFANG_COLLECTIVE_MIN_PETITIONERS defaults to 5
        body = petition(region="320102", content=text + "我家在" + str(n + 1) + "号楼。")
        created.append(
            (await client.post("/api/v1/petitions", json=body, headers=owner(f"owner-{n}"))).json()
        )
    submitted = await events_of(app, "intake.petition.submitted.v1")
    assert [e["data"]["collective_id"] for e in submitted[:4]] == [None] * 4
    group = submitted[4]["data"]["collective_id"]
    assert group == created[0]["petition_id"]
    flagged = await events_of(app, "intake.petition.collective_flagged.v1")
    assert sorted(e["data"]["petition_id"] for e in flagged) == sorted(
        c["petition_id"] for c in created[1:4]
    ) or sorted(e["data"]["petition_id"] for e in flagged) == sorted(
        c["petition_id"] for c in created[:4]
    )
    assert {e["data"]["collective_id"] for e in flagged} == {group}
    assert all(e["data"]["petitioners"] == 5 for e in flagged)


async def test_identity_reads_are_limited_and_logged_with_their_reason(intake) -> None:  # type: ignore[no-untyped-def]
    client, app = intake
    created = (
        await client.post("/api/v1/petitions", json=petition(), headers=owner("vault"))
    ).json()
    url = f"/api/v1/petitions/{created['tracking_number']}/identity"
    operator = {
        "Authorization": "Bearer " + mint_token(CommonSettings(), role="operator", sub="op-7")
    }
    clerk = {
        "Authorization": "Bearer "
        + mint_token(CommonSettings(), role="unit", sub="clerk-1", unit_id="110107:petition_bureau")
    }
    assert (await client.get(url, headers=operator)).status_code == 422  # no reason
    assert (
        await client.get(url, params={"reason": "回访核实"}, headers=owner("someone-else"))
    ).status_code == 404
    assert (
        await client.get(url, params={"reason": "电话回访核实情况"}, headers=clerk)
    ).status_code == 404  # not yet its case
    shown = await client.get(url, params={"reason": "核实信访人身份"}, headers=operator)
    assert shown.status_code == 200
    assert shown.json()["phone"] == "13812345678" and shown.json()["name"] == "张三"
    await case_status(app, created["petition_id"], "routed")  # now at 110107:petition_bureau
    assert (
        await client.get(url, params={"reason": "电话回访核实情况"}, headers=clerk)
    ).status_code == 200
    log = await client.get(url + "/access-log", headers=operator)
    entries = log.json()["entries"]
    assert [(e["actor"], e["reason"]) for e in entries] == [
        ("op-7", "核实信访人身份"),
        ("clerk-1", "电话回访核实情况"),
    ]
    assert set(entries[0]["fields"]) == {"name", "id_number", "phone", "address"}
    assert (await client.get(url + "/access-log", headers=clerk)).status_code == 403
