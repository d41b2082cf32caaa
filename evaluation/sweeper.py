"""The backlog sweep: an open case becomes a backlog case (积案) by age, with no event to say
so. Each case's ``scorecard_cases.backlog_from`` holds the day that happens; the sweep
refreshes the cases whose day has come (a range of ``ix_scorecard_cases_backlog_from``), in
batches, each in its own transaction. :class:`BacklogSweeper` runs it every
``XINFANG_ANALYTICS_SWEEP_SECONDS`` on the one replica that holds the lease.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import date

from sqlalchemy import and_, or_, select

from evaluation.models import scorecard_cases
from evaluation.rollups import Analytics, refresh, today_cst
from shared.db import Database
from shared.lease import Lease, every
from shared.regions import RegionDirectory
from shared.settings import CommonSettings

log = logging.getLogger(__name__)

LEASE = "evaluation.backlog-sweep"
BATCH_SIZE = 500


async def sweep(db: Database, ctx: Analytics, today: date, batch_size: int = BATCH_SIZE) -> int:
    """Refreshes every case whose backlog day has come by ``today``; returns how many."""
    ctx = ctx.on(today)
    s = scorecard_cases.c
    after: tuple[date, str] | None = None
    done = 0
    while True:
        q = select(s.case_id, s.backlog_from).where(s.backlog_from <= today)
        if after is not None:
            q = q.where(
                or_(
                    s.backlog_from > after[0],
                    and_(s.backlog_from == after[0], s.case_id > after[1]),
                )
            )
        async with db.transaction() as session:
            rows = (
                await session.execute(q.order_by(s.backlog_from, s.case_id).limit(batch_size))
            ).all()
            for row in rows:
                await refresh(session, row.case_id, ctx)
        done += len(rows)
        if len(rows) < batch_size:
            return done
        after = (rows[-1].backlog_from, rows[-1].case_id)


class BacklogSweeper:
    def __init__(self, db: Database, settings: CommonSettings) -> None:
        self.db, self.settings = db, settings
        self.ctx = Analytics(settings)
        self.lease = Lease(db, LEASE)

    async def tick(self) -> int | None:
        if not await self.lease.hold():
            return None
        n = await sweep(self.db, self.ctx, today_cst())
        if n:
            log.info("backlog sweep", extra={"cases": n})
        return n

    async def run(self) -> None:
        await asyncio.to_thread(RegionDirectory.default)  # region keys: load off the loop
        await every(self.lease, self.settings.analytics_sweep_seconds, self.tick, "backlog sweep")


def background(settings: CommonSettings) -> Callable[[Database], Awaitable[None]]:
    """The loop for ``create_service_app(background=...)``."""

    async def loop(db: Database) -> None:
        await BacklogSweeper(db, settings).run()

    return loop
