"""Nothing accepted is lost or applied twice: a routing crash under load, and poison
messages that must not stop a consumer."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.launcher import Suite
from shared.settings import CommonSettings
from tests.e2e.conftest import petition, token, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OPERATOR = token("operator", "reliability-op")


def all_cases_of(api: httpx.Client, unit: str) -> list[dict]:  # type: ignore[type-arg]
    items, cursor = [], None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        page = api.get(f"/api/v1/units/{unit}/cases", params=params, headers=OPERATOR).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def test_kill_9_routing_while_submitting_loses_and_doubles_nothing(
    api: httpx.Client, suite: Suite
) -> None:
    total, region, unit = 200, "110111", "110111:hrss"
    owner = token("petitioner", "reliability-user")
    accepted: list[str] = []
    lock = threading.Lock()

    def submit(i: int) -> None:
        body = petition(region=region, title=f"可靠性测试 {i}")
        for _attempt in range(20):  # a client retries 503s with the same Idempotency-Key
            r = api.post(
                "/api/v1/petitions", json=body, headers={**owner, "Idempotency-Key": f"rel-{i}"}
            )
            if r.status_code == 201:
                with lock:
                    accepted.append(r.json()["tracking_number"])
                return
            assert r.status_code == 503, r.text
            time.sleep(0.5)

    def crash_routing() -> None:
        wait_for(lambda: len(accepted) >= total // 4, timeout=120, every=0.05)
        suite.kill("routing")  # SIGKILL: no shutdown hook, no offset commit
        time.sleep(2)
        suite.restart("routing")

    chaos = threading.Thread(target=crash_routing)
    chaos.start()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(submit, range(total)))
    chaos.join()
    assert suite.member("routing").restarts == 1

    def all_routed() -> list[dict] | None:  # type: ignore[type-arg]
        cases = all_cases_of(api, unit)
        return cases if len(cases) >= len(accepted) else None

    cases = wait_for(all_routed, timeout=120, every=1)
    numbers = [c["tracking_number"] for c in cases]
    routed = [n for n in numbers if n in set(accepted)]
    lost = set(accepted) - set(numbers)
    doubled = len(numbers) - len(set(numbers))
    timelines_doubled = 0
    for number in accepted:
        case = api.get(f"/api/v1/cases/{number}", headers=OPERATOR).json()
        assert case["status"] == "routed"
        steps = [e["status"] for e in case["timeline"] if e["public"]]
        timelines_doubled += steps != ["received", "routed"]
    print(
        f"\nkill -9 routing: submitted={total} answered_201={len(accepted)} "
        f"routed={len(set(routed))} lost={len(lost)} doubled={doubled + timelines_doubled}"
    )
    assert len(accepted) == total
    assert lost == set() and doubled == 0 and timelines_doubled == 0
    assert len(set(routed)) == total


def test_malformed_message_is_dead_lettered_and_consumers_keep_going(
    api: httpx.Client, suite: Suite
) -> None:
    settings = suite.settings()
    topic = settings.topic("intake")

    async def produce_garbage() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"\x00 definitely not a CloudEvent", key=b"garbage")
        finally:
            await producer.stop()

    asyncio.run(produce_garbage())
    owner = token("petitioner", "dlq-user")
    number = api.post("/api/v1/petitions", json=petition(region="110112"), headers=owner).json()[
        "tracking_number"
    ]
    wait_for(lambda: api.get(f"/api/v1/cases/{number}", headers=owner).json()["status"] == "routed")
    # every service that reads intake's topic dead-letters it, once, and goes on
    readers = {settings.consumer_group(s) for s in ("routing", "tracking", "evaluation")}

    def dead_lettered() -> list[dict] | None:  # type: ignore[type-arg]
        letters = asyncio.run(read_dlq(settings, settings.dlq_topic(topic)))
        garbage = [h for key, h in letters if key == b"garbage"]
        groups = [h["x-consumer-group"].decode() for h in garbage]
        return garbage if set(groups) == readers else None

    garbage = wait_for(dead_lettered, timeout=60, every=1)
    assert len(garbage) == len(readers)
    assert all(h["x-error-type"] == b"InvalidEvent" for h in garbage)
    assert all(h["x-original-topic"] == topic.encode() for h in garbage)
    status = api.get("/status").json()
    assert status["services"]["routing"]["consumer"]["dead_lettered"] >= 1
    assert status["dead_letters"][settings.dlq_topic(topic)] >= len(readers)
    listing = subprocess.run(
        [sys.executable, "-m", "services.cli", "dlq", "list", "--service", "intake"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**suite.env(), "XINFANG_TOPIC_PREFIX": settings.topic_prefix},
    )
    assert listing.returncode == 0, listing.stderr
    assert "not a CloudEvent" in listing.stdout
    assert f"{settings.dlq_topic(topic)}: " in listing.stdout


async def read_dlq(settings: CommonSettings, topic: str) -> list[tuple[bytes, dict]]:  # type: ignore[type-arg]
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    await consumer.start()
    out: list[tuple[bytes, dict]] = []  # type: ignore[type-arg]
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                out += [(r.key, dict(r.headers)) for r in records]
            if sum(1 for k, _ in out if k == b"garbage") >= 2:
                break
    finally:
        await consumer.stop()
    return out
