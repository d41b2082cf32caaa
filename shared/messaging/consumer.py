"""The consumer every service uses: at-least-once delivery made effectively-once by an inbox.

For each message: parse the CloudEvent, skip types this service does not handle, then in one
database transaction claim (consumer group, event id) in the inbox and run the handler. The
offset is committed only after that transaction commits. A handler that meets an event whose
prerequisite has not arrived raises ``NotReady``: the event is parked under its subject and
re-applied, in arrival order, right after the next event about that subject commits. A
message that keeps failing goes, after bounded retries, to ``<topic>.dlq`` with the error in
its headers, and the consumer moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from shared import metrics
from shared.db import Database
from shared.events import Envelope, EventData, InvalidEvent, parse_data
from shared.logging import correlation_scope
from shared.messaging import kafka
from shared.messaging.tables import MessagingTables
from shared.settings import CommonSettings

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Envelope, EventData], Awaitable[None]]


class NotReady(Exception):
    """The event's prerequisite has not arrived yet: park it (normal, never a dead letter)."""


class _CommitOnRevoke(ConsumerRebalanceListener):
    def __init__(self, owner: EventConsumer) -> None:
        self.owner = owner

    async def on_partitions_revoked(self, revoked):  # type: ignore[no-untyped-def]
        await self.owner.commit_processed()

    async def on_partitions_assigned(self, assigned):  # type: ignore[no-untyped-def]
        log.info("partitions assigned", extra={"partitions": len(assigned)})


class EventConsumer:
    def __init__(
        self,
        db: Database,
        tables: MessagingTables,
        settings: CommonSettings,
        service: str,
        topics: list[str],
        handlers: dict[str, Handler],
    ) -> None:
        self.db, self.tables, self.settings, self.service = db, tables, settings, service
        self.topics, self.handlers = topics, handlers
        self.group = settings.consumer_group(service)
        self._consumer: AIOKafkaConsumer | None = None
        self._dlq_producer = None
        self._processed: dict[TopicPartition, int] = {}
        self._stopping = asyncio.Event()
        self.lag: int | None = None
        self.dead_lettered = 0

    # -- lifecycle --

    async def run(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                # Joining a group can take seconds; a stop meanwhile need not wait for it.
                start = asyncio.ensure_future(self._start())
                stopped = asyncio.ensure_future(self._stopping.wait())
                await asyncio.wait({start, stopped}, return_when=asyncio.FIRST_COMPLETED)
                if not start.done():
                    start.cancel()
                    with contextlib.suppress(BaseException):
                        await start
                    break
                stopped.cancel()
                start.result()
                backoff = 0.5
                await self._loop()
            except asyncio.CancelledError:
                await self._close()
                raise
            except Exception as exc:
                log.warning(
                    "consumer error, restarting", extra={"error": repr(exc), "retry_in": backoff}
                )
                await self._close()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                backoff = min(backoff * 2, 10.0)
        await self._close()

    async def stop(self) -> None:
        self._stopping.set()

    async def _start(self) -> None:
        await kafka.ensure_topics(self.settings, self.topics, f"{self.service}-consumer")
        consumer = AIOKafkaConsumer(
            **kafka.connection(self.settings),
            group_id=self.group,
            client_id=f"{self.service}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=200,
            fetch_max_wait_ms=100,  # latency of a consumer hop when traffic is light
            session_timeout_ms=10000,
            heartbeat_interval_ms=2000,
        )
        consumer.subscribe(self.topics, listener=_CommitOnRevoke(self))
        self._consumer = consumer  # so that _close stops it even if start is interrupted
        await consumer.start()
        self._processed.clear()

    async def _close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await self.commit_processed(consumer)
            # Leaving the group politely can wait on a join still in progress (seconds on the
            # embedded broker); after a bound, the session timeout lets the group move on.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(kafka.stop_consumer(consumer), 2)
        producer, self._dlq_producer = self._dlq_producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def commit_processed(self, consumer: AIOKafkaConsumer | None = None) -> None:
        consumer = consumer or self._consumer
        if consumer is None or not self._processed:
            return
        offsets, self._processed = dict(self._processed), {}
        await consumer.commit(offsets)

    async def _loop(self) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        while not self._stopping.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=200)
            for tp, records in batches.items():
                for record in records:
                    if self._stopping.is_set():
                        break
                    await self.process(record)
                    self._processed[tp] = record.offset + 1
                await self.commit_processed()
            await self._measure_lag(consumer)

    async def _measure_lag(self, consumer: AIOKafkaConsumer) -> None:
        lag = 0
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            lag += max(0, high - await consumer.position(tp))
        self.lag = lag
        metrics.CONSUMER_LAG.labels(self.service).set(lag)

    # -- one message --

    async def process(self, record: ConsumerRecord) -> str:
        try:
            envelope = Envelope.from_bytes(record.value)
        except InvalidEvent as exc:
            await self._dead_letter(record, exc, attempts=1)
            return "dead_lettered"
        handler = self.handlers.get(envelope.type)
        if handler is None:
            return "ignored"
        try:
            data = parse_data(envelope)
        except InvalidEvent as exc:
            await self._dead_letter(record, exc, attempts=1)
            return "dead_lettered"
        attempts = self.settings.consumer_max_attempts
        attempt = 0
        outage_wait = self.settings.consumer_retry_backoff_seconds or 0.1
        with correlation_scope(envelope.correlationid):
            while True:
                try:
                    outcome = await self.apply(envelope, data, handler)
                    metrics.EVENTS_CONSUMED.labels(self.service, envelope.type, outcome).inc()
                    return outcome
                except Exception as exc:
                    if not await self._database_answers():
                        # An outage is not the event's fault: wait, without spending its
                        # attempts and without committing, until the database is back.
                        if self._stopping.is_set():
                            raise
                        log.warning(
                            "database unavailable; holding the event",
                            extra={"event_id": envelope.id, "error": repr(exc)},
                        )
                        await asyncio.sleep(outage_wait)
                        outage_wait = min(outage_wait * 2, 10.0)
                        continue
                    attempt += 1
                    if attempt >= attempts:
                        log.error(
                            "handler failed; dead-lettering",
                            extra={
                                "event_id": envelope.id,
                                "type": envelope.type,
                                "error": repr(exc),
                            },
                        )
                        await self._dead_letter(record, exc, attempts=attempt)
                        return "dead_lettered"
                    log.warning(
                        "handler failed; retrying",
                        extra={"event_id": envelope.id, "attempt": attempt, "error": repr(exc)},
                    )
                    await asyncio.sleep(
                        self.settings.consumer_retry_backoff_seconds * 2 ** (attempt - 1)
                    )

    async def _database_answers(self) -> bool:
        try:
            await asyncio.wait_for(self.db.ping(), 5)
            return True
        except Exception:
            return False

    async def apply(self, envelope: Envelope, data: EventData, handler: Handler) -> str:
        """Run a handler once per event id, in one transaction with its inbox claim."""
        async with self.db.transaction() as session:
            return await self.apply_in(session, envelope, data, handler)

    async def apply_in(
        self, session: AsyncSession, envelope: Envelope, data: EventData, handler: Handler
    ) -> str:
        """:meth:`apply` inside the caller's transaction (a replay applies a batch of events
        per transaction): claim, handle or park, then the events parked under its subject."""
        if not await self._claim(session, envelope):
            return "duplicate"
        try:
            async with session.begin_nested():
                await handler(session, envelope, data)
        except NotReady as why:
            await self._park(session, envelope, str(why))
            return "parked"
        await self._apply_parked(session, envelope.subject)
        return "applied"

    async def _claim(self, session: AsyncSession, envelope: Envelope) -> bool:
        insert = postgresql.insert if self.db.dialect == "postgresql" else sqlite.insert
        result = await session.execute(
            insert(self.tables.inbox)
            .values(
                consumer_group=self.group,
                event_id=envelope.id,
                type=envelope.type,
                processed_at=datetime.now(UTC),
            )
            .on_conflict_do_nothing()
        )
        return result.rowcount == 1

    async def _park(self, session: AsyncSession, envelope: Envelope, reason: str) -> None:
        await session.execute(
            self.tables.parked.insert().values(
                consumer_group=self.group,
                subject=envelope.subject,
                event_id=envelope.id,
                type=envelope.type,
                value=envelope.model_dump_json(),
                reason=reason,
                parked_at=datetime.now(UTC),
            )
        )
        log.info(
            "event parked", extra={"event_id": envelope.id, "type": envelope.type, "reason": reason}
        )

    async def _apply_parked(self, session: AsyncSession, subject: str) -> None:
        p = self.tables.parked
        progress = True
        while progress:
            progress = False
            rows = (
                await session.execute(
                    select(p.c.id, p.c.value)
                    .where(p.c.consumer_group == self.group, p.c.subject == subject)
                    .order_by(p.c.id)
                )
            ).all()
            for row in rows:
                envelope = Envelope.from_bytes(row.value.encode())
                try:
                    async with session.begin_nested():
                        await self.handlers[envelope.type](session, envelope, parse_data(envelope))
                except NotReady:
                    continue
                except Exception as exc:  # stays parked; the event that woke it is fine
                    log.error(
                        "parked event failed", extra={"event_id": envelope.id, "error": repr(exc)}
                    )
                    continue
                await session.execute(delete(p).where(p.c.id == row.id))
                progress = True

    async def parked_count(self) -> int:
        p = self.tables.parked
        async with self.db.sessions() as s:
            n = int((await s.execute(select(func.count()).select_from(p))).scalar_one())
        metrics.PARKED.labels(self.service).set(n)
        return n

    async def _dead_letter(self, record: ConsumerRecord, exc: Exception, attempts: int) -> None:
        if self._dlq_producer is None:
            producer = kafka.producer(self.settings, f"{self.service}-dlq")
            await producer.start()
            self._dlq_producer = producer
        headers = list(record.headers or []) + [
            ("x-error", str(exc)[:2000].encode()),
            ("x-error-type", type(exc).__name__.encode()),
            ("x-original-topic", record.topic.encode()),
            ("x-original-partition", str(record.partition).encode()),
            ("x-original-offset", str(record.offset).encode()),
            ("x-consumer-group", self.group.encode()),
            ("x-attempts", str(attempts).encode()),
            ("x-failed-at", datetime.now(UTC).isoformat().encode()),
        ]
        await self._dlq_producer.send_and_wait(
            self.settings.dlq_topic(record.topic),
            value=record.value,
            key=record.key,
            headers=headers,
        )
        self.dead_lettered += 1
        metrics.DLQ_SENT.labels(self.service).inc()
        log.error(
            "message dead-lettered",
            extra={
                "topic": record.topic,
                "partition": record.partition,
                "offset": record.offset,
                "error": str(exc),
            },
        )
