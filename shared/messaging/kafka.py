"""Thin helpers over aiokafka: clients from settings, topic creation, offsets, broker probe."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context

from shared.settings import CommonSettings

log = logging.getLogger(__name__)

# Event topics keep everything, so read models can be rebuilt from them.
TOPIC_CONFIG = {"retention.ms": "-1"}


def connection(settings: CommonSettings) -> dict[str, Any]:
    """How every client reaches the broker: address, TLS and SASL, from settings."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile)
    if settings.kafka_sasl_mechanism:
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = (
            settings.kafka_sasl_password.get_secret_value()
            if settings.kafka_sasl_password
            else None
        )
    return options


def producer(settings: CommonSettings, client_id: str) -> AIOKafkaProducer:
    # acks=all and ordered retries; never enable_idempotence: correctness comes from the inbox,
    # and the embedded broker rejects the InitProducerId request that idempotence needs.
    return AIOKafkaProducer(
        **connection(settings),
        client_id=client_id,
        acks="all",
        linger_ms=2,
        request_timeout_ms=15000,
        retry_backoff_ms=200,
    )


async def stop_consumer(consumer: AIOKafkaConsumer) -> None:
    """``consumer.stop()`` without aiokafka 0.14's stray cancellation: while a broker is
    unreachable a fetch task waits out its retry backoff, and ``Fetcher.close`` cancels that task
    and awaits it, so its CancelledError escapes ``stop()`` although nobody cancelled the caller
    (a relay that took it for its own shutdown ended silently). That error is dropped and the
    client closed, as the rest of ``stop()`` would have; a real cancellation still propagates."""
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is None or task.cancelling():
            raise
        await consumer._client.close()


def admin(settings: CommonSettings, client_id: str) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        **connection(settings),
        client_id=client_id,
        request_timeout_ms=10000,
    )


async def ensure_topics(settings: CommonSettings, topics: list[str], client_id: str) -> list[str]:
    """Create the topics that do not exist; return the names created."""
    client = admin(settings, client_id)
    await client.start()
    try:
        existing = set(await client.list_topics())
        missing = [t for t in topics if t not in existing]
        created = []
        for name in missing:
            try:
                await client.create_topics(
                    [
                        NewTopic(
                            name,
                            num_partitions=settings.topic_partitions,
                            replication_factor=settings.topic_replication_factor,
                            topic_configs=TOPIC_CONFIG,
                        )
                    ]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                pass
        if created:
            log.info("topics created", extra={"topics": created})
        return created
    finally:
        await client.close()


async def partitions(settings: CommonSettings, topic: str, client_id: str) -> list[int]:
    """The partition ids of a topic ([] when it does not exist)."""
    client = admin(settings, client_id)
    await client.start()
    try:
        described = await client.describe_topics([topic])
    finally:
        await client.close()
    if not described or described[0].get("error_code"):
        return []
    return sorted(p["partition"] for p in described[0]["partitions"])


async def missing_records(
    settings: CommonSettings,
    topic: str,
    expected: dict[int, tuple[int, str]],
    client_id: str,
    timeout: float = 5.0,
) -> set[int]:
    """Partitions where the record we last published (offset, event id) is no longer there.

    Reading the record itself, not comparing end offsets, is exact on every broker: a
    recreated topic refilled by others, and brokers whose end offset lags inside a batch
    (tansu reports the last batch's base), are both told apart from a topic that is intact.
    """
    if not expected:
        return set()
    existing = set(await partitions(settings, topic, client_id))
    lost = {p for p in expected if p not in existing}
    check = {p: v for p, v in expected.items() if p in existing}
    if not check:
        return lost
    consumer = AIOKafkaConsumer(
        **connection(settings),
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=15000,
    )
    try:
        await consumer.start()
        tps = {p: TopicPartition(topic, p) for p in check}
        consumer.assign(list(tps.values()))
        for p, (offset, _event_id) in check.items():
            consumer.seek(tps[p], offset)
        found: dict[int, bool] = {}
        deadline = asyncio.get_running_loop().time() + timeout
        while len(found) < len(check) and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(
                *[tps[p] for p in check if p not in found], timeout_ms=500, max_records=1
            )
            for tp, records in batch.items():
                if records and tp.partition not in found:
                    offset, event_id = check[tp.partition]
                    first = records[0]
                    header = dict(first.headers or []).get("ce_id", b"").decode()
                    found[tp.partition] = first.offset == offset and header == event_id
        return lost | {p for p in check if not found.get(p, False)}
    finally:
        await stop_consumer(consumer)


async def topic_sizes(
    settings: CommonSettings, topics: list[str], client_id: str
) -> dict[str, int]:
    """Messages currently held by each topic (end minus beginning offsets, all partitions)."""
    consumer = AIOKafkaConsumer(
        **connection(settings),
        client_id=client_id,
        enable_auto_commit=False,
    )
    try:
        await consumer.start()
        sizes = {}
        for topic in topics:
            tps = [TopicPartition(topic, p) for p in await partitions(settings, topic, client_id)]
            if not tps:
                sizes[topic] = 0
                continue
            ends = await consumer.end_offsets(tps)
            starts = await consumer.beginning_offsets(tps)
            sizes[topic] = sum(max(0, ends[tp] - starts[tp]) for tp in tps)
        return sizes
    finally:
        await stop_consumer(consumer)


async def broker_ready(settings: CommonSettings, timeout: float = 3.0) -> bool:
    """True when the broker answers a metadata request within ``timeout`` seconds."""
    client = admin(settings, "xinfang-probe")
    try:
        await asyncio.wait_for(client.start(), timeout)
        await asyncio.wait_for(client.list_topics(), timeout)
        return True
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.close(), timeout)
