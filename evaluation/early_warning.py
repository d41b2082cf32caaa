"""Early warning (形势预警): a category in a region whose petitions on a day stand out from
the same region's and category's previous days.

The statistic is a z-score an analyst can redo by hand: over the ``XINFANG_WARNING_BASELINE_
DAYS`` (28) days before the day, the mean and the (population) standard deviation of the
daily counts, days without petitions counted as 0; z = (count - mean) / max(sd,
``XINFANG_WARNING_MIN_SD``). A warning is raised when z >= ``XINFANG_WARNING_Z_SCORE`` (3)
and the day has at least ``XINFANG_WARNING_MIN_COUNT`` (5) petitions, once per region,
category and day (``analytics_warnings``' unique key), with ``evaluation.warning.raised.v1``
through the outbox in the same transaction.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from evaluation.models import analytics_warnings, messaging, scorecard_rollups
from evaluation.scorecard import UNCATEGORIZED, region_level
from shared.contracts import WarningRaised
from shared.events import Envelope, new_envelope
from shared.messaging import outbox
from shared.settings import CommonSettings


@dataclass(frozen=True)
class Baseline:
    count: int
    mean: float
    sd: float
    z: float


def baseline(count: int, previous: Sequence[int], min_sd: float) -> Baseline:
    """The day's ``count`` against the ``previous`` days' counts."""
    n = len(previous)
    mean = sum(previous) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in previous) / n)
    return Baseline(count, mean, sd, (count - mean) / max(sd, min_sd))


def warns(b: Baseline, settings: CommonSettings) -> bool:
    return b.count >= settings.warning_min_count and b.z >= settings.warning_z_score


def _insert(session: AsyncSession):  # type: ignore[no-untyped-def]
    return postgresql.insert if session.bind.dialect.name == "postgresql" else sqlite.insert


async def check(
    session: AsyncSession,
    settings: CommonSettings,
    region: str,
    category: str,
    day: date,
    cause: Envelope | None,
) -> bool:
    """Raises the warning of (region, category, day) if its count now calls for one and it
    was not raised before; True when raised now."""
    n = settings.warning_baseline_days
    r = scorecard_rollups
    rows = (
        await session.execute(
            select(r.c.day, r.c.petitions).where(
                r.c.scope == "region",
                r.c.scope_id == region,
                r.c.day >= day - timedelta(days=n),
                r.c.day <= day,
                r.c.category == category,
            )
        )
    ).all()
    counts = {row.day: row.petitions for row in rows}
    today = counts.get(day, 0)
    if today < settings.warning_min_count:
        return False
    b = baseline(
        today,
        [counts.get(day - timedelta(days=i), 0) for i in range(1, n + 1)],
        settings.warning_min_sd,
    )
    if not warns(b, settings):
        return False
    event = WarningRaised(
        warning_id=str(uuid.uuid4()),
        region_code=region,
        region_level=region_level(region),
        category=category or None,
        day=day,
        count=b.count,
        baseline_days=n,
        baseline_mean=round(b.mean, 4),
        baseline_sd=round(b.sd, 4),
        z_score=round(b.z, 4),
        threshold=settings.warning_z_score,
        min_count=settings.warning_min_count,
        raised_at=datetime.now(UTC),
    )
    if not await restore(session, event):
        return False  # raised before (once per region, category and day)
    envelope = new_envelope(
        event,
        subject=region,
        correlation_id=cause.correlationid if cause else event.warning_id,
        causation_id=cause.id if cause else None,
    )
    await outbox.record(session, messaging, settings.topic("evaluation"), envelope)
    return True


async def restore(session: AsyncSession, event: WarningRaised) -> bool:
    """Stores a warning unless that region, category and day has one; True if stored."""
    done = await session.execute(
        _insert(session)(analytics_warnings)
        .values(
            id=event.warning_id,
            region_code=event.region_code,
            region_level=event.region_level,
            category=event.category or UNCATEGORIZED,
            day=event.day,
            count=event.count,
            baseline_days=event.baseline_days,
            baseline_mean=event.baseline_mean,
            baseline_sd=event.baseline_sd,
            z_score=event.z_score,
            threshold=event.threshold,
            min_count=event.min_count,
            raised_at=event.raised_at,
        )
        .on_conflict_do_nothing()
    )
    return done.rowcount == 1
