"""Thin helpers over aiokafka: clients from settings, topic creation, offsets, broker probe."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.settings import CommonSettings

log = logging.getLogger(__name__)

# Event topics keep everything, so read models can be rebuilt from them.
TOPIC_CONFIG = {"retention.ms": "-1"}


def producer(settings: CommonSettings, client_id: str) -> AIOKafkaProducer:
    # acks=all and ordered retries; never enable_idempotence: correctness comes from the inbox,
    # and the embedded broker rejects the InitProducerId request that idempotence needs.
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=client_id,
        acks="all",
        linger_ms=2,
        request_timeout_ms=15000,
        retry_backoff_ms=200,
    )


def admin(settings: CommonSettings, client_id: str) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap_servers,
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


async def end_offsets(settings: CommonSettings, topic: str, client_id: str) -> dict[int, int]:
    """The end offset of every partition of a topic ({} when the topic does not exist)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        client_id=client_id,
        enable_auto_commit=False,
        request_timeout_ms=15000,
    )
    await consumer.start()
    try:
        await consumer.topics()  # refreshes metadata
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            return {}
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        offsets = await consumer.end_offsets(tps)
        return {tp.partition: off for tp, off in offsets.items()}
    finally:
        await consumer.stop()


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
