"""The delivery layer against a real database and a real broker: outbox relay, inbox,
parking, dead letters, broker amnesia."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select

from shared.contracts import CaseRouted, PetitionSubmitted
from shared.db import Database
from shared.events import Envelope, new_envelope
from shared.messaging import kafka, outbox
from shared.messaging.consumer import EventConsumer, NotReady
from shared.messaging.outbox import OutboxRelay
from shared.messaging.tables import messaging_tables
from shared.settings import CommonSettings

metadata = MetaData()
tables = messaging_tables(metadata)
applied = Table(
    "applied",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(50)),
    Column("type", String(100)),
)


@pytest.fixture
async def db(database_url: str):  # type: ignore[no-untyped-def]
    database = Database(database_url)
    async with database.engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield database
    await database.dispose()


@pytest.fixture
def settings(bootstrap_servers: str, topic_prefix: str) -> CommonSettings:
    return CommonSettings(
        kafka_bootstrap_servers=bootstrap_servers,
        topic_prefix=topic_prefix,
        topic_partitions=3,
        consumer_max_attempts=3,
        consumer_retry_backoff_seconds=0.01,
    )


def submitted(case_id: str) -> Envelope:
    now = datetime.now(UTC)
    return new_envelope(
        PetitionSubmitted(
            petition_id=case_id,
            tracking_number="11010726112800001X",
            kind="grievance",
            channel="web",
            title="t",
            content="c",
            region_code="110107",
            query_code_hash="h",
            received_at=now,
            submitted_at=now,
        ),
        subject=case_id,
        correlation_id="corr",
    )


def routed(case_id: str) -> Envelope:
    return new_envelope(
        CaseRouted(
            case_id=case_id,
            tracking_number="11010726112800001X",
            unit_id="110107:petition_bureau",
            function="petition_bureau",
            region_code="110107",
            level="county",
            rule="r",
            explanation="e",
            routed_at=datetime.now(UTC),
        ),
        subject=case_id,
        correlation_id="corr",
    )


async def read_topic(settings: CommonSettings, topic: str, expect: int, timeout: float = 20):  # type: ignore[no-untyped-def]
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=f"reader-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(records) < expect and asyncio.get_running_loop().time() < deadline:
            for recs in (await consumer.getmany(timeout_ms=300)).values():
                records += recs
    finally:
        await consumer.stop()
    return records


async def test_relay_publishes_in_order_per_key_and_marks_rows_sent(db, settings) -> None:  # type: ignore[no-untyped-def]
    topic = settings.topic("intake")
    await kafka.ensure_topics(settings, [topic], "test")
    keys = [f"case-{i}" for i in range(3)]
    async with db.transaction() as s:
        for n in range(30):
            env = submitted(keys[n % 3])
            env.data["title"] = str(n)
            await outbox.record(s, tables, topic, env)
    relay = OutboxRelay(db, tables, settings, topic, "intake")
    assert await relay.publish_batch() == 30
    assert await relay.backlog() == 0
    await relay.close()
    records = await read_topic(settings, topic, 30)
    by_key = defaultdict(list)
    for r in records:
        by_key[r.key.decode()].append(int(json.loads(r.value)["data"]["title"]))
    assert sorted(by_key) == keys
    for key, titles in by_key.items():
        assert titles == sorted(titles), f"{key} out of order"
    async with db.sessions() as s:
        rows = (await s.execute(select(tables.outbox.c.partition, tables.outbox.c.offset))).all()
    assert all(p is not None and o is not None for p, o in rows)


async def test_relay_republishes_what_the_broker_lost(db, settings) -> None:  # type: ignore[no-untyped-def]
    topic = settings.topic("routing")
    await kafka.ensure_topics(settings, [topic], "test")
    async with db.transaction() as s:
        for n in range(5):
            await outbox.record(s, tables, topic, routed(f"case-{n}"))
    relay = OutboxRelay(db, tables, settings, topic, "routing")
    assert await relay.publish_batch() == 5
    assert await relay.check_topic() == 0  # nothing lost yet
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics([topic])
    finally:
        await admin.close()
    for _ in range(50):  # deletion is asynchronous on a real cluster
        if not await kafka.partitions(settings, topic, "test"):
            break
        await asyncio.sleep(0.2)
    republished = 0
    for _ in range(50):
        try:
            republished = await relay.check_topic()
            break
        except Exception:
            await asyncio.sleep(0.3)  # the topic may still be marked for deletion
    assert republished == 5
    for _ in range(30):  # a recreated topic may need a moment to elect its leaders
        try:
            await relay.publish_batch()
        except RuntimeError:
            await asyncio.sleep(0.5)
        if await relay.backlog() == 0:
            break
    await relay.close()
    assert await relay.backlog() == 0
    records = await read_topic(settings, topic, 5)
    assert sorted(r.key.decode() for r in records) == [f"case-{n}" for n in range(5)]


def consumer_for(db: Database, settings: CommonSettings, fail_subjects: set[str]) -> EventConsumer:
    async def on_submitted(session, env, data):  # type: ignore[no-untyped-def]
        if env.subject in fail_subjects:
            raise RuntimeError("handler bug")
        await session.execute(applied.insert().values(subject=env.subject, type=env.type))

    async def on_routed(session, env, data):  # type: ignore[no-untyped-def]
        seen = (
            await session.execute(
                select(applied.c.id).where(
                    applied.c.subject == env.subject, applied.c.type == PetitionSubmitted.TYPE
                )
            )
        ).first()
        if seen is None:
            raise NotReady("waiting for submission")
        await session.execute(applied.insert().values(subject=env.subject, type=env.type))

    return EventConsumer(
        db,
        tables,
        settings,
        "tracking",
        [settings.topic("intake"), settings.topic("routing")],
        {PetitionSubmitted.TYPE: on_submitted, CaseRouted.TYPE: on_routed},
    )


async def test_inbox_applies_each_event_once(db, settings) -> None:  # type: ignore[no-untyped-def]
    consumer = consumer_for(db, settings, set())
    env = submitted("c1")
    handler = consumer.handlers[env.type]
    from shared.events import parse_data

    assert await consumer.apply(env, parse_data(env), handler) == "applied"
    assert await consumer.apply(env, parse_data(env), handler) == "duplicate"
    async with db.sessions() as s:
        assert (await s.execute(select(func.count()).select_from(applied))).scalar_one() == 1


async def test_early_event_is_parked_then_applied_after_its_prerequisite(db, settings) -> None:  # type: ignore[no-untyped-def]
    from shared.events import parse_data

    consumer = consumer_for(db, settings, set())
    early, late = routed("c2"), submitted("c2")
    assert await consumer.apply(early, parse_data(early), consumer.handlers[early.type]) == "parked"
    assert await consumer.parked_count() == 1
    assert await consumer.apply(late, parse_data(late), consumer.handlers[late.type]) == "applied"
    assert await consumer.parked_count() == 0
    async with db.sessions() as s:
        types = (await s.execute(select(applied.c.type).order_by(applied.c.id))).scalars().all()
    assert types == [PetitionSubmitted.TYPE, CaseRouted.TYPE]
    # a redelivered early event is not applied again
    assert (
        await consumer.apply(early, parse_data(early), consumer.handlers[early.type]) == "duplicate"
    )


async def test_poison_and_failing_messages_go_to_dlq_and_consumer_moves_on(db, settings) -> None:  # type: ignore[no-untyped-def]
    topic = settings.topic("intake")
    await kafka.ensure_topics(settings, settings.all_topics, "test")
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{not json", key=b"bad")
        await producer.send_and_wait(topic, submitted("boom").to_bytes(), key=b"boom")
        await producer.send_and_wait(topic, submitted("good").to_bytes(), key=b"good")
    finally:
        await producer.stop()
    consumer = consumer_for(db, settings, {"boom"})
    task = asyncio.create_task(consumer.run())
    try:
        dead = await read_topic(settings, settings.dlq_topic(topic), 2, timeout=30)
        for _ in range(100):
            async with db.sessions() as s:
                done = (await s.execute(select(applied.c.subject))).scalars().all()
            if done:
                break
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, 20)
    assert done == ["good"]
    headers = {r.key: dict(r.headers) for r in dead}
    assert set(headers) == {b"bad", b"boom"}
    assert headers[b"bad"][b"x-error-type".decode()] == b"InvalidEvent"
    assert headers[b"boom"]["x-attempts"] == b"3"
    assert b"handler bug" in headers[b"boom"]["x-error"]
    assert headers[b"boom"]["x-original-topic"] == topic.encode()


async def test_dlq_replay_redrives_letters_once_after_a_fix(db, settings) -> None:  # type: ignore[no-untyped-def]
    from services.dlq import replay

    topic = settings.topic("intake")
    await kafka.ensure_topics(settings, settings.all_topics, "test")
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
    await producer.start()
    try:
        await producer.send_and_wait(topic, submitted("fixme").to_bytes(), key=b"fixme")
    finally:
        await producer.stop()
    failing = {"fixme"}
    consumer = consumer_for(db, settings, failing)
    task = asyncio.create_task(consumer.run())
    try:
        assert len(await read_topic(settings, settings.dlq_topic(topic), 1, timeout=30)) == 1
        failing.clear()  # the bug is fixed
        assert await replay(settings, [settings.dlq_topic(topic)]) == 1
        for _ in range(100):
            async with db.sessions() as s:
                done = (await s.execute(select(applied.c.subject))).scalars().all()
            if done:
                break
            await asyncio.sleep(0.2)
        assert done == ["fixme"]
        assert await replay(settings, [settings.dlq_topic(topic)]) == 0  # nothing new
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, 20)


async def test_database_outage_holds_the_event_instead_of_dead_lettering(  # type: ignore[no-untyped-def]
    db, settings, monkeypatch
) -> None:
    from aiokafka.structs import ConsumerRecord
    from sqlalchemy.exc import OperationalError

    consumer = consumer_for(db, settings, set())
    outage = {"on": True}
    real_apply = consumer.apply

    async def apply_during_outage(*args):  # type: ignore[no-untyped-def]
        if outage["on"]:
            raise OperationalError("INSERT", {}, ConnectionRefusedError("db down"))
        return await real_apply(*args)

    async def ping() -> None:
        if outage["on"]:
            raise ConnectionRefusedError("db down")

    monkeypatch.setattr(consumer, "apply", apply_during_outage)
    monkeypatch.setattr(db, "ping", ping)
    env = submitted("outage")
    record = ConsumerRecord(
        topic=settings.topic("intake"),
        partition=0,
        offset=0,
        timestamp=0,
        timestamp_type=0,
        key=b"outage",
        value=env.to_bytes(),
        checksum=None,
        serialized_key_size=6,
        serialized_value_size=1,
        headers=(),
    )
    task = asyncio.create_task(consumer.process(record))
    await asyncio.sleep(1.5)  # far longer than max_attempts x backoff
    assert not task.done(), "an outage must not use up the event's attempts"
    outage["on"] = False
    assert await asyncio.wait_for(task, 20) == "applied"
    assert consumer.dead_lettered == 0


# SQLite is the single-process embedded default: there is no lease to share there.
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_one_relay_per_service_holds_the_publishing_lease(db, settings) -> None:  # type: ignore[no-untyped-def]
    topic = settings.topic("intake")
    first = OutboxRelay(db, tables, settings, topic, "intake")
    replica = Database(db.url)
    second = OutboxRelay(replica, tables, settings, topic, "intake")
    try:
        assert await first._hold_lease() is True
        assert await second._hold_lease() is False  # the other replica waits
        await first.close()  # the holder stops (or dies: its session ends)
        assert await second._hold_lease() is True
    finally:
        await first.close()
        await second.close()
        await replica.dispose()
