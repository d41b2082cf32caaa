"""The rating scheduler: a moment's window that closed without a rating is stored as
``not_rated`` (never satisfied), and a call-back past its due day is marked overdue.

:func:`scan` reads only open windows whose last day has passed and running call-backs past
due (ranges of ``ix_ratings_state_window`` and ``ix_callbacks_status_due``), in batches, each
in its own transaction; every change is claimed with a conditional update on the state it
read, so scanning again, or a rating posted meanwhile, changes nothing twice.
:class:`RatingScheduler` scans every ``XINFANG_SCHEDULER_INTERVAL_SECONDS`` on the one
replica that holds the lease (``shared.lease``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from evaluation import ratings as rules
from evaluation.models import callbacks, ratings
from evaluation.ratings_store import Writer
from shared.contracts import CallbackOverdue, RatingNotRated
from shared.db import Database
from shared.lease import Lease, every
from shared.settings import CommonSettings

log = logging.getLogger(__name__)

LEASE = "evaluation.rating-scheduler"
BATCH_SIZE = 200


@dataclass
class ScanCounts:
    not_rated: int = 0
    callbacks_overdue: int = 0
    skipped: int = 0  # changed meanwhile (rated, done, another scan)
    batches: int = 0


def _closed_windows(today: date, after: tuple[date, str] | None, limit: int) -> Any:
    q = select(ratings).where(ratings.c.state == "open", ratings.c.window_closes < today)
    if after is not None:
        day, last = after
        q = q.where(
            or_(
                ratings.c.window_closes > day,
                and_(ratings.c.window_closes == day, ratings.c.id > last),
            )
        )
    return q.order_by(ratings.c.window_closes, ratings.c.id).limit(limit)


def _late_callbacks(today: date, after: tuple[date, str] | None, limit: int) -> Any:
    q = select(callbacks).where(callbacks.c.status == "open", callbacks.c.due < today)
    if after is not None:
        day, last = after
        q = q.where(or_(callbacks.c.due > day, and_(callbacks.c.due == day, callbacks.c.id > last)))
    return q.order_by(callbacks.c.due, callbacks.c.id).limit(limit)


async def _not_rated(s: AsyncSession, w: Writer, row: Any, now: datetime) -> bool:
    done = await s.execute(
        update(ratings)
        .where(ratings.c.id == row.id, ratings.c.state == "open")
        .values(state="not_rated", closed_at=now, updated_at=now)
    )
    if done.rowcount != 1:
        return False
    await w.emit(
        RatingNotRated(
            rating_id=row.id,
            case_id=row.case_id,
            tracking_number=row.tracking_number,
            moment=row.moment,
            unit_id=row.unit_id,
            region_code=row.region_code,
            window_opened_at=row.opened_at,
            window_closes=row.window_closes,
            recorded_at=now,
        ),
        row.case_id,
    )
    return True


async def _overdue(s: AsyncSession, w: Writer, row: Any, now: datetime) -> bool:
    done = await s.execute(
        update(callbacks)
        .where(callbacks.c.id == row.id, callbacks.c.status == "open")
        .values(status="overdue", overdue_at=now)
    )
    if done.rowcount != 1:
        return False
    await w.emit(
        CallbackOverdue(
            callback_id=row.id,
            case_id=row.case_id,
            tracking_number=row.tracking_number,
            unit_id=row.unit_id,
            due=row.due,
            noticed_at=now,
        ),
        row.case_id,
    )
    return True


async def _sweep(
    db: Database,
    settings: CommonSettings,
    query: Callable[[date, tuple[date, str] | None, int], Any],
    apply: Callable[[AsyncSession, Writer, Any, datetime], Awaitable[bool]],
    key: Callable[[Any], date],
    today: date,
    batch_size: int,
    counts: ScanCounts,
) -> int:
    changed, after = 0, None
    while True:
        now = datetime.now(UTC)
        async with db.transaction() as s:
            rows = (await s.execute(query(today, after, batch_size))).all()
            for row in rows:
                w = Writer(s, settings, row.case_id)
                if await apply(s, w, row, now):
                    changed += 1
                else:
                    counts.skipped += 1
        if not rows:
            break
        counts.batches += 1
        after = (key(rows[-1]), rows[-1].id)
        if len(rows) < batch_size:
            break
    return changed


async def scan(
    db: Database, settings: CommonSettings, today: date, *, batch_size: int = BATCH_SIZE
) -> ScanCounts:
    """Applies ``today`` (China time) to every rating window and call-back clock."""
    counts = ScanCounts()
    counts.not_rated = await _sweep(
        db,
        settings,
        _closed_windows,
        _not_rated,
        lambda r: r.window_closes,
        today,
        batch_size,
        counts,
    )
    counts.callbacks_overdue = await _sweep(
        db, settings, _late_callbacks, _overdue, lambda r: r.due, today, batch_size, counts
    )
    return counts


class RatingScheduler:
    """Scans every ``interval`` seconds while this replica holds the lease."""

    def __init__(
        self,
        db: Database,
        settings: CommonSettings,
        *,
        today: Callable[[], date] = lambda: rules.today_of(datetime.now(UTC)),
    ) -> None:
        self.db, self.settings, self.today = db, settings, today
        self.lease = Lease(db, LEASE)

    async def tick(self) -> ScanCounts | None:
        """One scan if this replica holds the lease; None if another one does."""
        if not await self.lease.hold():
            return None
        counts = await scan(self.db, self.settings, self.today())
        if counts.not_rated or counts.callbacks_overdue:
            log.info("rating windows and call-backs scanned", extra=asdict(counts))
        return counts

    async def run(self) -> None:
        await every(self.lease, self.settings.scheduler_interval_seconds, self.tick, "rating scan")


def background(settings: CommonSettings) -> Callable[[Database], Awaitable[None]]:
    """The loop for ``create_service_app(background=...)``."""

    async def loop(db: Database) -> None:
        await RatingScheduler(db, settings).run()

    return loop
