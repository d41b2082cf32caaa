"""``xinfang evaluation rebuild``: evaluation's read models rebuilt from the topics.

Truncate, then replay, in place, with evaluation stopped:

1. Where to stop: the evaluation consumer group's committed offsets on the intake, tracking
   and evaluation topics (a stopped consumer has committed all it applied), so the rebuilt
   models hold exactly what evaluation had applied, and evaluation, started again, goes on
   from there with nothing applied twice or missed.
2. Emptied: ``case_reads``, ``scorecard_cases``, ``scorecard_rollups``, ``receptions``, and
   the group's inbox and parked events. Kept: the ratings and call-backs (evaluation's own
   records, not read models; their rating events are replayed into the scorecards) and the
   warnings (evaluation's own decisions; one missing is restored from its event, none is
   raised again).
3. Replayed: every record from the start of each partition (or, with ``since``, from the
   first published on that day), through the same handlers as the live consumer, with the
   same inbox and parking, in transactions of ``batch`` events; with ``since``/``until``,
   only events whose CloudEvents ``time`` falls in those days (China time): the read models
   then show what those events alone say.
4. The backlog sweep for today, as the running service does.

If the rebuild stops half-way, run it again: it starts by emptying the models.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import delete, func, select

from evaluation.handlers import handlers as read_model_handlers
from evaluation.models import (
    case_reads,
    messaging,
    receptions,
    scorecard_cases,
    scorecard_rollups,
)
from evaluation.queries import cst_range
from evaluation.rollups import Analytics, today_cst, with_analytics
from evaluation.scorecard import MEASURES, NATIONAL, figures
from evaluation.sweeper import sweep
from shared.db import Database
from shared.events import Envelope, InvalidEvent, parse_data
from shared.lease import Lease
from shared.messaging import kafka
from shared.messaging.consumer import EventConsumer
from shared.settings import CommonSettings

log = logging.getLogger(__name__)

SERVICE = "evaluation"
TOPICS = ("intake", "tracking", "evaluation")
READ_MODELS = (case_reads, scorecard_cases, scorecard_rollups, receptions)


@dataclass
class Report:
    read: Counter[str] = field(default_factory=Counter)  # records per topic
    outcomes: Counter[str] = field(default_factory=Counter)  # applied, parked, ...
    left_parked: int = 0
    swept: int = 0
    before: dict[str, Any] = field(default_factory=dict)  # the country's scorecard, all days
    after: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def same(self) -> bool:
        return self.before == self.after


class EvaluationRunning(RuntimeError):
    pass


async def national(db: Database) -> dict[str, Any]:
    r = scorecard_rollups.c
    q = select(*(func.sum(r[m]).label(m) for m in MEASURES)).where(
        r.scope == "region", r.scope_id == NATIONAL
    )
    async with db.sessions() as s:
        row = (await s.execute(q)).one()
    return figures({m: int(getattr(row, m) or 0) for m in MEASURES})


async def _positions(
    consumer: AIOKafkaConsumer, settings: CommonSettings, since: date | None
) -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
    """Where each partition's replay starts and stops (the group's committed offset)."""
    # the partitions as the broker describes them (a fresh consumer's own metadata may not
    # list topics it is not subscribed to: Apache Kafka's does not)
    parts = [
        TopicPartition(topic, p)
        for topic in (settings.topic(t) for t in TOPICS)
        for p in await kafka.partitions(settings, topic, f"{SERVICE}-rebuild")
    ]
    consumer.assign(parts)
    ends = await consumer.end_offsets(parts)
    # a partition the broker lost holds less than was committed: replay what it holds
    stop = {tp: min((await consumer.committed(tp)) or 0, ends[tp]) for tp in parts}
    if since is None:
        start = await consumer.beginning_offsets(parts)
    else:
        ms = int((cst_range(since, since)[0] - timedelta(days=1)).timestamp() * 1000)
        found = await consumer.offsets_for_times({tp: ms for tp in parts})
        start = {tp: found[tp].offset if found.get(tp) else ends[tp] for tp in parts}
    return start, stop


async def rebuild(
    db: Database,
    settings: CommonSettings,
    *,
    since: date | None = None,
    until: date | None = None,
    today: date | None = None,
    batch: int = 500,
) -> Report:
    started = time.perf_counter()
    today = today or today_cst()
    lease = Lease(db, "evaluation.backlog-sweep")
    if not await lease.hold():
        raise EvaluationRunning("an evaluation replica is running (it holds the sweep lease)")
    report = Report(before=await national(db))
    ctx = Analytics(settings, lambda: today, live=False)
    handlers = with_analytics(read_model_handlers(settings), settings, today=ctx.today, live=False)
    applier = EventConsumer(db, messaging, settings, SERVICE, [], handlers)
    group = settings.consumer_group(SERVICE)
    low = cst_range(since, since)[0] if since else None
    high = cst_range(until, until)[1] if until else None
    consumer = AIOKafkaConsumer(
        **kafka.connection(settings),
        group_id=group,
        client_id=f"{SERVICE}-rebuild",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        start, stop = await _positions(consumer, settings, since)
        await _empty(db, group)
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        pending = {tp for tp in stop if start[tp] < stop[tp]}
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1000, max_records=batch)
            envelopes: list[Envelope] = []
            for tp, records in batches.items():
                for record in records:
                    if record.offset < stop[tp]:
                        report.read[tp.topic] += 1
                        envelopes.extend(_wanted(record.value, handlers, low, high, report))
                    if record.offset + 1 >= stop[tp]:
                        pending.discard(tp)
            await _apply(db, applier, handlers, envelopes, report)
    finally:
        await consumer.stop()
        await lease.release()
    report.swept = await sweep(db, ctx, today)
    report.left_parked = await _parked(db, group)
    report.after = await national(db)
    report.seconds = time.perf_counter() - started
    return report


def _wanted(
    value: bytes | None,
    handlers: dict[str, Any],
    low: datetime | None,
    high: datetime | None,
    report: Report,
) -> list[Envelope]:
    try:
        envelope = Envelope.from_bytes(value)
    except InvalidEvent:
        report.outcomes["invalid"] += 1
        return []
    if envelope.type not in handlers:
        report.outcomes["ignored"] += 1
        return []
    moment = envelope.time if envelope.time.tzinfo else envelope.time.replace(tzinfo=UTC)
    if (low is not None and moment < low) or (high is not None and moment >= high):
        report.outcomes["outside_range"] += 1
        return []
    return [envelope]


async def _apply(
    db: Database,
    applier: EventConsumer,
    handlers: dict[str, Any],
    envelopes: list[Envelope],
    report: Report,
) -> None:
    """One transaction per batch; an event that fails is rolled back alone and counted."""
    async with db.transaction() as session:
        for envelope in envelopes:
            try:
                data = parse_data(envelope)
                async with session.begin_nested():
                    outcome = await applier.apply_in(
                        session, envelope, data, handlers[envelope.type]
                    )
            except Exception as exc:  # as the live consumer would dead-letter it
                log.warning(
                    "event not replayed", extra={"event_id": envelope.id, "error": repr(exc)[:300]}
                )
                outcome = "failed"
            report.outcomes[outcome] += 1


async def _empty(db: Database, group: str) -> None:
    async with db.transaction() as s:
        for table in READ_MODELS:
            await s.execute(delete(table))
        await s.execute(delete(messaging.inbox).where(messaging.inbox.c.consumer_group == group))
        await s.execute(delete(messaging.parked).where(messaging.parked.c.consumer_group == group))


async def _parked(db: Database, group: str) -> int:
    p = messaging.parked
    async with db.sessions() as s:
        q = select(func.count()).select_from(p).where(p.c.consumer_group == group)
        return int((await s.execute(q)).scalar_one())


def describe(report: Report) -> str:
    lines = [
        "read: " + (", ".join(f"{t} {n}" for t, n in sorted(report.read.items())) or "nothing"),
        "events: " + ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items())),
        f"still parked: {report.left_parked}; backlog sweep: {report.swept} case(s)",
        f"the country's scorecard, all days: {'the same as' if report.same else 'CHANGED from'}"
        " before the rebuild",
    ]
    if not report.same:
        for key in report.before:
            if report.before[key] != report.after.get(key):
                lines.append(f"  {key}: {report.before[key]} -> {report.after.get(key)}")
    lines.append(f"{report.seconds:.1f} s")
    return "\n".join(lines)
