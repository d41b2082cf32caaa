"""Operator commands on the messaging layer: list and replay dead letters, prune the outbox."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import delete

from shared.db import Database
from shared.messaging import kafka
from shared.settings import CommonSettings, service_settings


async def _read_all(settings: CommonSettings, topic: str, group: str | None):  # type: ignore[no-untyped-def]
    """Every record of a topic from the group's committed position up to its current end."""
    consumer = AIOKafkaConsumer(
        **kafka.connection(settings),
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        tps = [
            TopicPartition(topic, p) for p in await kafka.partitions(settings, topic, "xinfang-dlq")
        ]
        if not tps:
            return consumer, []
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        if group is None:
            await consumer.seek_to_beginning(*tps)
        records = []

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in tps])

        while await behind():
            batch = await consumer.getmany(timeout_ms=1000)
            for tp, recs in batch.items():
                records += [r for r in recs if r.offset < ends[tp]]
        return consumer, records
    except Exception:
        await kafka.stop_consumer(consumer)
        raise


def _header(record, name: str) -> str | None:  # type: ignore[no-untyped-def]
    for key, value in record.headers or []:
        if key == name:
            return value.decode(errors="replace")
    return None


async def show(settings: CommonSettings, topics: list[str]) -> None:
    for topic in topics:
        consumer, records = await _read_all(settings, topic, None)
        await kafka.stop_consumer(consumer)
        print(f"{topic}: {len(records)} dead letter(s)")
        for r in records:
            print(
                f"  {r.partition}:{r.offset} group={_header(r, 'x-consumer-group')} "
                f"from={_header(r, 'x-original-topic')}@{_header(r, 'x-original-offset')} "
                f"error={_header(r, 'x-error')}"
            )


async def replay(settings: CommonSettings, topics: list[str], group: str | None = None) -> int:
    """Re-publish dead letters to their original topic once; the replay group remembers
    which letters were replayed, so running it again replays only new ones. Consumers that
    already applied an event skip it by their inbox."""
    producer = kafka.producer(settings, "xinfang-dlq-replay")
    await producer.start()
    total = 0
    try:
        for topic in topics:
            # A replay limited to one group keeps its own position, so a later full replay
            # still sees the letters it skipped.
            replay_group = f"{settings.topic_prefix}-dlq-replay" + (f"-{group}" if group else "")
            consumer, records = await _read_all(settings, topic, replay_group)
            try:
                for r in records:
                    if group and _header(r, "x-consumer-group") != group:
                        continue
                    original = _header(r, "x-original-topic") or topic.removesuffix(".dlq")
                    headers = [(k, v) for k, v in r.headers or [] if not k.startswith("x-")]
                    headers.append(
                        ("x-replayed-from", f"{topic}:{r.partition}:{r.offset}".encode())
                    )
                    await producer.send_and_wait(
                        original, value=r.value, key=r.key, headers=headers
                    )
                    total += 1
                if records:
                    last: dict[TopicPartition, int] = {}
                    for r in records:
                        last[TopicPartition(r.topic, r.partition)] = r.offset + 1
                    await consumer.commit(last)
            finally:
                await kafka.stop_consumer(consumer)
    finally:
        await producer.stop()
    return total


async def prune_outbox(service: str, retention_days: int) -> int:
    """Delete sent outbox rows older than the retention (never unsent ones). After pruning,
    a broker that loses its topic can only be refilled with what is left."""
    import importlib

    tables = importlib.import_module(f"{service}.models").messaging
    db = Database(service_settings(service).database_url_or_default())
    cutoff = datetime.now(UTC) - timedelta(days=retention_days)
    o = tables.outbox
    try:
        async with db.transaction() as s:
            result = await s.execute(
                delete(o).where(o.c.sent_at.is_not(None), o.c.sent_at < cutoff)
            )
        return result.rowcount
    finally:
        await db.dispose()
