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
