"""``xinfang evaluation rebuild`` reaches the same numbers (SQLite and PostgreSQL, a real
broker): the March cases published to the topics as intake, tracking and evaluation publish
them, consumed by evaluation's consumer, then the read models emptied and rebuilt from the
topics, give the same rollups, case reads and scorecards, and leave the inbox as the consumer
left it (so it goes on from its committed offsets); a rebuild of a date range holds only what
those days' events say."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from evaluation import queries
from evaluation.models import case_reads, messaging, scorecard_cases, scorecard_rollups
from evaluation.rebuild import describe, rebuild
from evaluation.rollups import Analytics
from evaluation.scorecard import figures
from evaluation.sweeper import sweep
from shared.contracts import CallbackOpened
from shared.db import Database
from shared.events import Envelope, new_envelope
from shared.messaging import kafka
from shared.messaging.consumer import EventConsumer
from shared.migrations import upgrade
from shared.settings import CommonSettings
from tests.service.analytics_story import (
    HRSS,
    TODAY,
    UNIT_FIGURES,
    at,
    consumer_handlers,
    d,
    march,
    shuffled,
)

TOPICS = ("intake", "tracking", "evaluation")


@pytest.fixture
def settings(bootstrap_servers: str, topic_prefix: str) -> CommonSettings:
    return CommonSettings(
        kafka_bootstrap_servers=bootstrap_servers,
        topic_prefix=topic_prefix,
        topic_partitions=3,
        consumer_max_attempts=2,
        consumer_retry_backoff_seconds=0.01,
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await upgrade(database, "evaluation")
    yield database
    await database.dispose()


async def publish(settings: CommonSettings, envelopes: list[Envelope]) -> None:
    await kafka.ensure_topics(settings, settings.all_topics, "test")
    producer = kafka.producer(settings, "test")
    await producer.start()
    try:
        for e in envelopes:
            topic = settings.topic(e.source.removeprefix("xinfang/"))
            await producer.send_and_wait(topic, e.to_bytes(), key=e.subject.encode())
    finally:
        await producer.stop()


async def count(db: Database, table: Any, *where: Any) -> int:
    async with db.sessions() as s:
        return int(
            (await s.execute(select(func.count()).select_from(table).where(*where))).scalar_one()
        )


async def consume(db: Database, settings: CommonSettings, events: int) -> None:
    """Runs evaluation's consumer until it has applied ``events`` in all, then stops it (it
    commits its offsets on the way out, as a stopped service does)."""
    consumer = EventConsumer(
        db,
        messaging,
        settings,
        "evaluation",
        [settings.topic(t) for t in TOPICS],
        consumer_handlers(TODAY, settings),
    )
    task = asyncio.create_task(consumer.run())
    try:
        for _ in range(300):
            if await count(db, messaging.inbox) >= events:
                break
            await asyncio.sleep(0.2)
    finally:
        await consumer.stop()
        await asyncio.wait_for(task, 30)
    assert await count(db, messaging.inbox) == events
    assert await count(db, messaging.parked) == 0


async def inbox(db: Database) -> set[str]:
    async with db.sessions() as s:
        return set((await s.execute(select(messaging.inbox.c.event_id))).scalars())


async def state(db: Database) -> dict[str, Any]:
    """Everything the rebuild rebuilds, comparable."""
    async with db.sessions() as s:
        rollups = {
            tuple(r) for r in (await s.execute(select(scorecard_rollups))).all() if any(r[4:])
        }
        reads = {
            tuple(v for k, v in r._mapping.items() if k != "updated_at")
            for r in (await s.execute(select(case_reads))).all()
        }
        facts = {tuple(r) for r in (await s.execute(select(scorecard_cases))).all()}
        unit = await queries.totals(s, "unit", d(3, 1), d(3, 31), ids=[HRSS])
    return {"rollups": rollups, "reads": reads, "facts": facts, "unit": figures(unit[HRSS])}


def callback(case_id: str) -> Envelope:
    """An evaluation event analytics do not consume (replayed past, never applied)."""
    data = CallbackOpened(
        callback_id="cb",
        rating_id="r",
        case_id=case_id,
        tracking_number="11010725030300001X",
        moment="acceptance",
        unit_id=HRSS,
        region_code="110107",
        opened_at=at(d(3, 22)),
        due=date(2025, 3, 31),
    )
    return new_envelope(data, subject=case_id, correlation_id=case_id)


async def test_a_rebuild_from_the_topics_gives_the_same_numbers(
    db: Database, settings: CommonSettings
) -> None:
    cases = march()
    envelopes = shuffled(list(cases.values()), seed=11, redeliver=0)
    await publish(settings, [*envelopes, callback(cases["b"].id)])
    await consume(db, settings, len(envelopes))
    await sweep(db, Analytics(settings), TODAY)
    before = await state(db)
    assert {k: before["unit"][k] for k in UNIT_FIGURES} == UNIT_FIGURES
    applied = await inbox(db)

    report = await rebuild(db, settings, today=TODAY)
    assert report.same, describe(report)
    assert report.outcomes["applied"] == len(envelopes) and report.outcomes["ignored"] == 1
    assert report.left_parked == 0 and "failed" not in report.outcomes
    assert await state(db) == before

    # Started again, evaluation goes on from its committed offsets: what the rebuild applied
    # is exactly what its inbox says it applied before
    assert await inbox(db) == applied

    # A range: only the events of April onwards (the March cases' later steps wait for a
    # registration that is not replayed)
    ranged = await rebuild(db, settings, since=d(4, 1), today=TODAY)
    assert ranged.outcomes["outside_range"] > 0 and ranged.left_parked > 0
    async with db.sessions() as s:
        march_ = await queries.totals(s, "region", d(3, 1), d(3, 31), ids=["000000"])
        april = await queries.totals(s, "region", d(4, 1), d(4, 30), ids=["000000"])
    assert march_ == {} and april["000000"]["petitions"] == 1  # g, the repeat of f

    # and a full rebuild again: the numbers of the service
    assert (await rebuild(db, settings, today=TODAY)).left_parked == 0
    assert await state(db) == before
