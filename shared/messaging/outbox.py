"""Transactional outbox: events are rows written in the business transaction; a relay
publishes them in order, marks them sent with the broker's partition and offset, and
republishes them when the broker has forgotten them (embedded broker restart, lost topic).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import bindparam, event, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from shared import metrics
from shared.db import Database
from shared.events import Envelope
from shared.lease import Lease
from shared.messaging import kafka
from shared.messaging.tables import MessagingTables
from shared.settings import CommonSettings

log = logging.getLogger(__name__)

_WAKE_KEY = "outbox_written"


async def record(
    session: AsyncSession, tables: MessagingTables, topic: str, event: Envelope
) -> None:
    """Add an event to the outbox inside the caller's transaction (commits with the change)."""
    await session.execute(
        insert(tables.outbox).values(
            event_id=event.id,
            topic=topic,
            key=event.subject,
            type=event.type,
            value=event.model_dump_json(),
            created_at=datetime.now(UTC),
            attempts=0,
        )
    )
    session.info[_WAKE_KEY] = True


_wakers: list[Callable[[], None]] = []


@event.listens_for(Session, "after_commit")
def _wake_relays_after_commit(session: Session) -> None:
    """A committed outbox row wakes this process's relay at once instead of at its next poll."""
    if session.info.pop(_WAKE_KEY, False):
        for wake in _wakers:
            wake()


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    session.info.pop(_WAKE_KEY, None)


class OutboxRelay:
    """Publishes unsent outbox rows of one topic. One relay per service holds the lease."""

    def __init__(
        self,
        db: Database,
        tables: MessagingTables,
        settings: CommonSettings,
        topic: str,
        service: str,
    ) -> None:
        self.db, self.tables, self.settings, self.topic = db, tables, settings, topic
        self.service = service
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._lease = Lease(db, topic)
        self._last_check = 0.0
        self._producer = None
        self.published = 0

    def wake(self) -> None:
        self._wake.set()

    def wake_on_commit(self) -> None:
        _wakers.append(self.wake)

    async def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                if await self._hold_lease():
                    await self._check_topic_if_due()
                    sent = await self.publish_batch()
                    await self._update_backlog()
                    backoff = 0.2
                    if sent >= self.settings.outbox_batch_size:
                        continue
                await self._sleep(self.settings.outbox_poll_seconds)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "outbox relay error, retrying", extra={"error": repr(exc), "retry_in": backoff}
                )
                await self._drop_producer()
                await self._sleep(backoff)
                backoff = min(backoff * 2, 10.0)
        if self._lease.held or self.db.dialect != "postgresql":
            with contextlib.suppress(Exception):  # last chance to publish what is committed
                await asyncio.wait_for(self.publish_batch(), 5)
        await self.close()

    async def close(self) -> None:
        await self._drop_producer()
        await self._release_lease()
        if self.wake in _wakers:
            _wakers.remove(self.wake)

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)
        self._wake.clear()

    # -- lease: one publisher per service among replicas (advisory lock on PostgreSQL) --

    async def _hold_lease(self) -> bool:
        return await self._lease.hold()

    async def _release_lease(self) -> None:
        await self._lease.release()

    # -- publishing --

    async def _get_producer(self):  # type: ignore[no-untyped-def]
        if self._producer is None:
            producer = kafka.producer(self.settings, f"{self.service}-relay")
            await producer.start()
            self._producer = producer
        return self._producer

    async def _drop_producer(self) -> None:
        if self._producer is not None:
            producer, self._producer = self._producer, None
            with contextlib.suppress(Exception):
                await producer.stop()

    async def publish_batch(self) -> int:
        o = self.tables.outbox
        async with self.db.sessions() as s:
            rows = (
                await s.execute(
                    select(o.c.id, o.c.key, o.c.type, o.c.event_id, o.c.value)
                    .where(o.c.sent_at.is_(None), o.c.topic == self.topic)
                    .order_by(o.c.id)
                    .limit(self.settings.outbox_batch_size)
                )
            ).all()
        if not rows:
            return 0
        producer = await self._get_producer()
        futures = []
        for row in rows:
            headers = [("ce_type", row.type.encode()), ("ce_id", row.event_id.encode())]
            futures.append(
                await producer.send(
                    self.topic, value=row.value.encode(), key=row.key.encode(), headers=headers
                )
            )
        results = await asyncio.gather(*futures, return_exceptions=True)
        now = datetime.now(UTC)
        sent, failed = [], []
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, BaseException):
                failed.append({"b_id": row.id, "b_error": repr(result)})
            else:
                sent.append(
                    {
                        "b_id": row.id,
                        "b_partition": result.partition,
                        "b_offset": result.offset,
                        "b_sent": now,
                    }
                )
        async with self.db.transaction() as s:
            if sent:
                await s.execute(
                    update(o)
                    .where(o.c.id == bindparam("b_id"))
                    .values(
                        sent_at=bindparam("b_sent"),
                        partition=bindparam("b_partition"),
                        offset=bindparam("b_offset"),
                    ),
                    sent,
                    execution_options={"synchronize_session": False},
                )
            if failed:
                await s.execute(
                    update(o)
                    .where(o.c.id == bindparam("b_id"))
                    .values(attempts=o.c.attempts + 1, last_error=bindparam("b_error")),
                    failed,
                    execution_options={"synchronize_session": False},
                )
        metrics.EVENTS_PUBLISHED.labels(self.service).inc(len(sent))
        self.published += len(sent)
        if failed:
            raise RuntimeError(
                f"{len(failed)} of {len(rows)} events not published: {failed[0]['b_error']}"
            )
        return len(sent)

    async def _update_backlog(self) -> None:
        metrics.OUTBOX_BACKLOG.labels(self.service).set(await self.backlog())

    async def backlog(self) -> int:
        o = self.tables.outbox
        async with self.db.sessions() as s:
            return int(
                (
                    await s.execute(
                        select(func.count()).select_from(o).where(o.c.sent_at.is_(None))
                    )
                ).scalar_one()
            )

    # -- broker amnesia --

    async def _check_topic_if_due(self) -> None:
        loop = asyncio.get_running_loop()
        if loop.time() - self._last_check < self.settings.outbox_check_seconds and self._last_check:
            return
        await self.check_topic()
        self._last_check = loop.time()

    async def check_topic(self) -> int:
        """Recreate a missing topic and mark for republishing what the broker lost."""
        s = self.settings
        await kafka.ensure_topics(s, [self.topic, s.dlq_topic(self.topic)], f"{self.service}-relay")
        o = self.tables.outbox
        async with self.db.sessions() as session:
            last = (
                select(o.c.partition, func.max(o.c.offset).label("top"))
                .where(o.c.topic == self.topic, o.c.sent_at.is_not(None))
                .group_by(o.c.partition)
                .subquery()
            )
            rows = (
                await session.execute(
                    select(o.c.partition, o.c.offset, o.c.event_id)
                    .join(last, (o.c.partition == last.c.partition) & (o.c.offset == last.c.top))
                    .where(o.c.topic == self.topic)
                )
            ).all()
        expected = {r.partition: (r.offset, r.event_id) for r in rows}
        lost = await kafka.missing_records(s, self.topic, expected, f"{self.service}-relay")
        if not lost:
            return 0
        async with self.db.transaction() as session:
            result = await session.execute(
                update(o)
                .where(o.c.topic == self.topic, o.c.partition.in_(sorted(lost)))
                .values(sent_at=None, partition=None, offset=None)
            )
        log.warning(
            "broker lost published events; republishing",
            extra={"topic": self.topic, "partitions": sorted(lost), "events": result.rowcount},
        )
        metrics.EVENTS_REPUBLISHED.labels(self.service).inc(result.rowcount)
        return result.rowcount
