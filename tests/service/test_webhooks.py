"""Webhooks against a real database (SQLite and PostgreSQL) and a real HTTP receiver: the API,
fan-out in the emitting transaction, signed deliveries retried with backoff, every attempt
in the row, replay, the retry window, and two workers that never take the same delivery."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from shared import errors
from shared.auth import mint_token
from shared.contracts import CaseAccepted, CaseAssigned
from shared.db import Database
from shared.events import EventData
from shared.migrations import upgrade
from shared.settings import CommonSettings
from tests.conftest import free_port
from tests.webhook_receiver import Receiver
from tracking import webhooks
from tracking.models import webhook_deliveries, webhook_subscriptions
from tracking.store import Writer
from tracking.webhooks_api import router

UNIT, OTHER = "110107:hrss", "110108:hrss"
SECRET = "unit-system-shared-secret"
ROUTED = "tracking.case.routed.v1"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await upgrade(database, "tracking")
    yield database
    await database.dispose()


def fast(**over: Any) -> CommonSettings:
    """Backoff in tens of milliseconds instead of seconds."""
    values: dict[str, Any] = {
        "webhook_backoff_seconds": 0.05,
        "webhook_backoff_max_seconds": 0.2,
        "webhook_timeout_seconds": 5,
        "webhook_batch_size": 20,
        **over,
    }
    return CommonSettings(**values)


def client(db: Database, settings: CommonSettings) -> httpx.AsyncClient:
    app = FastAPI()
    errors.install(app)
    app.include_router(router)
    app.state.db, app.state.settings = db, settings
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tracking")


def auth(role: str = "unit", unit_id: str | None = UNIT) -> dict[str, str]:
    token = mint_token(CommonSettings(), role=role, sub=f"{role}-1", unit_id=unit_id)
    return {"Authorization": f"Bearer {token}"}


async def register(api: httpx.AsyncClient, url: str, types: list[str], **kw: Any) -> str:
    body = {"url": url, "secret": SECRET, "event_types": types}
    r = await api.post(f"/api/v1/units/{UNIT}/webhooks", json=body, **kw)
    assert r.status_code == 201, r.text
    assert SECRET not in r.text and "secret" not in r.json()
    return str(r.json()["id"])


def routed(unit_id: str = UNIT) -> CaseAssigned:
    return CaseAssigned(
        case_id=str(uuid.uuid4()),
        tracking_number="11010726112800001X",
        status="routed",
        unit_id=unit_id,
        routed_at=datetime.now(UTC),
    )


async def emit(db: Database, data: EventData) -> None:
    """As tracking does: the outbox row and the deliveries commit together."""
    async with db.transaction() as s:
        await Writer(s, "t.tracking.events", "corr-1", None).emit(data, data.case_id)  # type: ignore[attr-defined]


async def rows(db: Database, webhook_id: str) -> list[Any]:
    async with db.sessions() as s:
        q = select(webhook_deliveries).where(webhook_deliveries.c.subscription_id == webhook_id)
        return list((await s.execute(q)).all())


async def until(worker: webhooks.DeliveryWorker, check: Any, timeout: float = 10) -> None:
    """Run worker rounds until ``check()`` (async) holds."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await worker.deliver_due()
        await asyncio.sleep(0.02)


async def test_api_rules(db: Database) -> None:
    async with client(db, fast()) as api:
        base = f"/api/v1/units/{UNIT}/webhooks"
        ok = {"url": "http://127.0.0.1:9/h", "secret": SECRET, "event_types": [ROUTED]}
        for field, bad in (
            ("secret", "short"),
            ("url", "ftp://x/"),
            ("event_types", ["routing.case.routed.v1"]),
            ("event_types", []),
        ):
            r = await api.post(base, json={**ok, field: bad}, headers=auth())
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
        assert (await api.post(base, json=ok, headers=auth("petitioner", None))).status_code == 403
        # another unit's webhooks are not yours to keep, nor an operator's of another region's
        # (refused by the unit in the path, before any webhook is looked up)
        assert (await api.post(base, json=ok, headers=auth(unit_id=OTHER))).status_code == 403
        webhook_id = await register(api, str(ok["url"]), [ROUTED], headers=auth())
        again = await api.post(base, json=ok, headers=auth())
        assert again.status_code == 409
        assert (await api.get(base, headers=auth(unit_id=OTHER))).status_code == 403
        far = {
            "Authorization": "Bearer "
            + mint_token(CommonSettings(), role="operator", sub="op", region_code="310000")
        }
        assert (await api.get(base, headers=far)).status_code == 403
        listed = (await api.get(base, headers=auth("operator", None))).json()["items"]
        assert [w["id"] for w in listed] == [webhook_id] and "secret" not in listed[0]
        other = f"{base}/{webhook_id}/deliveries"
        assert (await api.get(other, headers=auth(unit_id=OTHER))).status_code == 403
        assert (await api.get(f"{base}/nope/deliveries", headers=auth())).status_code == 404
        bad_cursor = await api.get(other, params={"cursor": "!!"}, headers=auth())
        assert bad_cursor.status_code == 422
    # the secret is stored encrypted, bound to its subscription
    async with db.sessions() as s:
        stored = (await s.execute(select(webhook_subscriptions.c.secret))).scalar_one()
    assert SECRET not in stored
    clear = webhooks.cipher(fast()).decrypt(stored, context=webhooks.secret_context(webhook_id))
    assert clear == SECRET


async def test_delivery_signed_retried_logged_and_replayed(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = Receiver(SECRET, answers=[500, 200])
    settings = fast()
    worker = webhooks.DeliveryWorker(db, settings)
    try:
        async with client(db, settings) as api:
            webhook_id = await register(api, receiver.url, [ROUTED], headers=auth())
            event = routed()
            await emit(db, event)
            await emit(db, routed(OTHER))  # another unit's case
            await emit(
                db,
                CaseAccepted(  # a type this webhook does not want
                    case_id=event.case_id,
                    tracking_number=event.tracking_number,
                    unit_id=UNIT,
                    track="general",
                    accepted_at=datetime.now(UTC),
                    reply_due=datetime.now(UTC).date(),
                ),
            )
            [row] = await rows(db, webhook_id)
            assert (row.status, row.attempts, row.event_type) == ("pending", 0, ROUTED)

            caplog.set_level(logging.INFO, logger="tracking.webhooks")
            assert await worker.deliver_due() == 1
            [row] = await rows(db, webhook_id)
            assert (row.status, row.attempts, row.last_status) == ("pending", 1, 500)
            assert row.last_error == "HTTP 500" and row.next_attempt_at > row.created_at

            async def delivered() -> bool:
                return (await rows(db, webhook_id))[0].status == "delivered"

            await until(worker, delivered)
            [row] = await rows(db, webhook_id)
            assert (row.attempts, row.last_status, row.last_error) == (2, 200, None)
            assert row.delivered_at is not None

            first, second = receiver.received
            assert first.verified and second.verified
            assert first.headers[webhooks.DELIVERY_HEADER] == row.id
            assert second.headers[webhooks.EVENT_HEADER] == ROUTED
            body = second.event
            assert body["specversion"] == "1.0" and body["type"] == ROUTED
            assert body["data"]["case_id"] == event.case_id and body["data"]["unit_id"] == UNIT

            attempts = [r for r in caplog.records if r.getMessage() == "webhook delivery attempt"]
            assert [r.__dict__["outcome"] for r in attempts] == ["retry", "delivered"]
            assert [r.__dict__["http_status"] for r in attempts] == [500, 200]
            for r in attempts:
                assert SECRET not in json.dumps(r.__dict__, default=str)
                assert event.case_id not in json.dumps(r.__dict__, default=str)  # no body

            page = await api.get(
                f"/api/v1/units/{UNIT}/webhooks/{webhook_id}/deliveries", headers=auth()
            )
            [listed] = page.json()["items"]
            assert (listed["status"], listed["attempts"], listed["last_status"]) == (
                "delivered",
                2,
                200,
            )

            replay = f"/api/v1/units/{UNIT}/webhooks/deliveries/{row.id}/replay"
            assert (
                await api.post(replay.replace(UNIT, OTHER), headers=auth(unit_id=OTHER))
            ).status_code == 404
            again = await api.post(replay, headers=auth())
            assert again.status_code == 202 and again.json()["status"] == "pending"
            assert await worker.deliver_due() == 1
            [row] = await rows(db, webhook_id)
            assert (row.status, row.attempts) == ("delivered", 3)
            assert len(receiver.received) == 3 and receiver.received[2].verified
            assert receiver.received[2].body == second.body  # the same event, signed anew
    finally:
        await worker.close()
        receiver.close()


async def test_unreachable_receiver_fails_after_the_window_and_delete_stops(
    db: Database,
) -> None:
    settings = fast(webhook_retry_hours=0.4 / 3600)  # 0.4 s instead of a day
    worker = webhooks.DeliveryWorker(db, settings)
    try:
        async with client(db, settings) as api:
            nobody = f"http://127.0.0.1:{free_port()}/hook"
            webhook_id = await register(api, nobody, ["*"], headers=auth())
            await emit(db, routed())

            async def failed() -> bool:
                return (await rows(db, webhook_id))[0].status == "failed"

            await until(worker, failed)
            [row] = await rows(db, webhook_id)
            assert row.attempts >= 2 and row.last_status is None
            assert row.last_error.startswith("ConnectError") and row.next_attempt_at is None

            # deleting a webhook fails what it still had pending; its log stays readable
            parked = await register(api, nobody + "2", ["*"], headers=auth())
            await emit(db, routed())
            base = f"/api/v1/units/{UNIT}/webhooks"
            assert (
                await api.delete(f"{base}/{parked}", headers=auth(unit_id=OTHER))
            ).status_code == 403
            assert (await api.delete(f"{base}/{parked}", headers=auth())).status_code == 204
            [gone] = await rows(db, parked)
            assert (gone.status, gone.last_error) == ("failed", "webhook deleted")
            log = await api.get(f"{base}/{parked}/deliveries", headers=auth())
            assert log.json()["items"][0]["status"] == "failed"
            replay = await api.post(f"{base}/deliveries/{gone.id}/replay", headers=auth())
            assert replay.status_code == 409
            assert [w["id"] for w in (await api.get(base, headers=auth())).json()["items"]] == [
                webhook_id
            ]
    finally:
        await worker.close()


async def test_two_workers_never_claim_the_same_delivery_and_pages(db: Database) -> None:
    settings = fast()
    one, two = webhooks.DeliveryWorker(db, settings), webhooks.DeliveryWorker(db, settings)
    try:
        async with client(db, settings) as api:
            webhook_id = await register(api, "http://127.0.0.1:9/h", ["*"], headers=auth())
            for _ in range(30):
                await emit(db, routed())
            a, b = await asyncio.gather(one.claim(20), two.claim(20))
            ids_a, ids_b = {r.id for r in a}, {r.id for r in b}
            assert not ids_a & ids_b and len(ids_a | ids_b) == 30
            assert await one.claim(20) == []  # leased: nobody takes them again meanwhile

            seen: list[dict[str, Any]] = []
            cursor = None
            while True:
                params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
                page = (
                    await api.get(
                        f"/api/v1/units/{UNIT}/webhooks/{webhook_id}/deliveries",
                        params=params,
                        headers=auth(),
                    )
                ).json()
                seen += page["items"]
                cursor = page["next_cursor"]
                if not cursor:
                    break
            assert len({d["id"] for d in seen}) == 30
            stamps = [d["created_at"] for d in seen]
            assert stamps == sorted(stamps, reverse=True)  # newest first
    finally:
        await one.close()
        await two.close()


async def test_a_slow_receiver_does_not_hold_up_the_others(db: Database) -> None:
    """The running worker keeps a batch of POSTs in flight, not rounds: while one agency
    system takes its time, another's deliveries keep going out."""
    slow, fast_one = Receiver(SECRET, delay=1.5), Receiver(SECRET)
    settings = fast(webhook_poll_seconds=0.05)
    async with client(db, settings) as api:
        hanging = await register(api, slow.url, [ROUTED], headers=auth())
        await register(api, fast_one.url, [ROUTED], headers=auth())
    worker = webhooks.DeliveryWorker(db, settings)
    running = asyncio.create_task(worker.run())
    try:
        await emit(db, routed())
        deadline = time.monotonic() + 10
        while len(fast_one.received) < 1 or not slow.received:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        await emit(db, routed())
        while len(fast_one.received) < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        first = min(await rows(db, hanging), key=lambda r: r.created_at)
        assert first.status == "pending" and first.attempts == 0  # still waiting for its answer
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)  # lets the slow POST finish
        slow.close()
        fast_one.close()
    first = next(r for r in await rows(db, hanging) if r.id == first.id)
    assert (first.status, first.attempts) == ("delivered", 1)  # drained on shutdown
