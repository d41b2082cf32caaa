"""The fault suite: under a load of petitions driven through the gateway, one fault at a time,
and every petition answered 201 must end as exactly one case with exactly the timeline
received -> routed, in every service; no answer may be a 5xx other than a 503 with Retry-After.

Scenarios, each on a region of its own so their counts stay apart: kill -9 of each process
(restarted 2 s later), a restart of the Kafka broker, PostgreSQL stopped for 20 s, and poison
messages on every topic. Each scenario submits ``XINFANG_RELIABILITY_PETITIONS`` petitions
(2,000 under CI, 10,000 in ``make soak``) and injects its fault once a quarter of them are in."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.settings import SERVICES
from tests.e2e.conftest import token
from tests.reliability.conftest import World
from tests.reliability.load import PETITIONS, Tally, problems, sample, settle, submit_all

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

OPERATOR = token("operator", "reliability-op")
POSTGRES_DOWN_SECONDS = 20

# scenario -> the county its petitions come from (Beijing's districts; wage arrears there go
# to the district's human resources bureau)
SCENARIOS = {
    "kill -9 gateway": "110101",
    "kill -9 intake": "110102",
    "kill -9 routing": "110105",
    "kill -9 tracking": "110106",
    "kill -9 evaluation": "110107",
    "restart kafka": "110108",
    "stop postgres 20 s": "110109",
    "poison messages": "110111",
}


def fault(world: World, scenario: str) -> Callable[[], None]:
    suite = world.suite
    if scenario.startswith("kill -9 "):
        name = scenario.removeprefix("kill -9 ")

        def crash() -> None:
            suite.kill(name)
            time.sleep(2)
            suite.restart(name)

        return crash
    if scenario == "restart kafka":
        return lambda: world.kafka.restart(0)
    if scenario == "stop postgres 20 s":

        def outage() -> None:
            world.postgres.stop()
            time.sleep(POSTGRES_DOWN_SECONDS)
            world.postgres.start()

        return outage
    assert scenario == "poison messages"
    return lambda: asyncio.run(poison(world))


# -- poison: what a broken or hostile producer could put on the topics --------------------------


def poison_values(topic_owner: str) -> dict[str, bytes]:
    envelope = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": f"/{topic_owner}",
        "subject": str(uuid.uuid4()),
        "correlationid": str(uuid.uuid4()),
        "time": "2026-11-28T00:00:00Z",
        "datacontenttype": "application/json",
        "type": "intake.petition.submitted.v1",
        "data": {"tracking_number": 42},  # a known type whose data breaks its contract
    }
    return {
        "garbage": b"\x00\xff definitely not a CloudEvent",
        "json": b'{"hello": "a JSON object that is no CloudEvent"}',
        "contract": json.dumps(envelope).encode(),
    }


async def poison(world: World) -> None:
    settings = world.suite.settings()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        for service in SERVICES:
            for kind, value in poison_values(service).items():
                key = f"poison-{service}-{kind}".encode()
                await producer.send_and_wait(settings.topic(service), value, key=key)
    finally:
        await producer.stop()


async def dead_letters(world: World) -> list[tuple[str, str, str]]:
    """(topic, key, consumer group) of every message on the dead-letter topics."""
    settings = world.suite.settings()
    topics = [settings.dlq_topic(settings.topic(s)) for s in SERVICES]
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    out: list[tuple[str, str, str]] = []
    try:
        quiet = 0
        while quiet < 4:  # two seconds without a new message: the end of the topics
            batch = await consumer.getmany(timeout_ms=500)
            quiet = 0 if batch else quiet + 1
            for records in batch.values():
                for r in records:
                    headers = dict(r.headers)
                    group = headers.get("x-consumer-group", b"").decode()
                    out.append((r.topic, (r.key or b"").decode(errors="replace"), group))
    finally:
        await consumer.stop()
    return out


# -- the scenarios ---------------------------------------------------------------------------


async def drive(world: World, scenario: str, region: str) -> Tally:
    started = asyncio.Event()
    loop = asyncio.get_running_loop()

    def progress(accepted: int) -> None:
        if accepted >= PETITIONS // 4:
            loop.call_soon_threadsafe(started.set)

    async def inject() -> None:
        await started.wait()
        await asyncio.to_thread(fault(world, scenario))

    tag = f"rel-{uuid.uuid4().hex[:6]}"
    chaos = asyncio.create_task(inject())
    tally = await submit_all(
        world.suite.url("gateway"),
        lambda i: token("petitioner", f"{tag}-{i}"),
        region,
        tag,
        progress=progress,
    )
    if not chaos.done():  # the load ended before a quarter was in: a bug of its own
        started.set()
    await chaos
    return tally


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_every_accepted_petition_ends_as_one_case_under(world: World, scenario: str) -> None:
    region = SCENARIOS[scenario]
    letters_before = asyncio.run(dead_letters(world))
    began = time.monotonic()
    tally = asyncio.run(drive(world, scenario, region))
    loaded = time.monotonic() - began
    now = asyncio.run(settle(world.database_urls, region, len(tally.accepted)))
    settled = time.monotonic() - began - loaded
    routed, seen = now.routed()
    print(
        f"\n[{scenario}] {tally.line()} | intake={len(now.intake)} routing={len(now.routing)} "
        f"tracking_routed={routed} evaluation_routed={seen} "
        f"| load {loaded:.0f} s, settled {settled:.0f} s later"
    )
    assert tally.submitted == PETITIONS
    assert problems(tally, now) == []
    assert len(tally.accepted) == PETITIONS

    # What a user sees through the gateway: a sample of the cases, and the scorecard.
    with httpx.Client(base_url=world.suite.url("gateway"), timeout=30) as api:
        for number in sample(tally):
            case = api.get(f"/api/v1/cases/{number}", headers=OPERATOR)
            assert case.status_code == 200, case.text
            body = case.json()
            assert body["status"] == "routed"
            assert [e["status"] for e in body["timeline"] if e["public"]] == ["received", "routed"]
        status = api.get("/status")
        assert status.status_code == 200, status.text  # every process, the broker and DBs up

    letters = asyncio.run(dead_letters(world))[len(letters_before) :]
    if scenario != "poison messages":
        assert letters == [], f"{len(letters)} messages dead-lettered during {scenario!r}"
        return
    keys = {key for _, key, _ in letters}
    print(f"[{scenario}] dead-lettered: {len(letters)} ({len(keys)} poison messages)")
    assert all(key.startswith("poison-") for key in keys), "a real event was dead-lettered"
    pairs = [(key, group) for _, key, group in letters]
    assert len(pairs) == len(set(pairs)), "a poison message dead-lettered twice by one group"
    settings = world.suite.settings()
    intake_readers = {g for _, key, g in letters if key == "poison-intake-garbage"}
    readers = {settings.consumer_group(s) for s in ("routing", "tracking", "evaluation")}
    assert intake_readers == readers
    for service in SERVICES:
        read = {g for _, key, g in letters if key.startswith(f"poison-{service}-")}
        if not read:
            continue
        # Bytes that are no CloudEvent are refused by every group that reads the topic.
        for kind in ("garbage", "json"):
            got = {g for _, key, g in letters if key == f"poison-{service}-{kind}"}
            assert got == read, (service, kind, got, read)
        # A CloudEvent breaking its type's contract is refused by the groups that take that
        # type; a group that takes no event of that type passes over it without looking.
        got = {g for _, key, g in letters if key == f"poison-{service}-contract"}
        assert got and got <= read, (service, got, read)
