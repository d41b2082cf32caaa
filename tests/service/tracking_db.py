"""What tracking's service tests share: one migrated database per module and kind, emptied
before each test, and cases with running clocks written as the service writes them."""

from __future__ import annotations

import json
import uuid
from contextlib import AbstractAsyncContextManager
from datetime import UTC, date, datetime
from itertools import count
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from shared import tracking_number as numbers
from shared.db import Database
from shared.settings import CommonSettings
from tests.service import scratch
from tracking.clocks import calendar_of
from tracking.models import cases, messaging, metadata
from tracking.store import Writer

SETTINGS = CommonSettings(topic_prefix="svc")
TOPIC = SETTINGS.topic("tracking")
START = date(2025, 3, 3)  # a Monday; 15 days -> Tue 18 March, due soon from Sat 15 March
_numbers = count(1)


def migrated_database(kind: str, directory: Path) -> AbstractAsyncContextManager[Database]:
    """A tracking database at head (see ``tests.service.scratch``)."""
    return scratch.migrated_database("tracking", kind, directory)


async def empty(db: Database) -> Database:
    return await scratch.empty(db, metadata)


async def add_case(
    db: Database,
    *,
    status: str = "routed",
    unit_id: str = "110107:hrss",
    region: str = "110107",
    clock: str | None = "acceptance",
    days: int = 15,
    start: date = START,
) -> str:
    """A case held by ``unit_id`` with one running clock of kind ``clock``."""
    case_id = str(uuid.uuid4())
    now = datetime.now(UTC)
    async with db.transaction() as s:
        await s.execute(
            cases.insert().values(
                id=case_id,
                tracking_number=numbers.make(region[:6], START, next(_numbers)),
                kind="grievance",
                channel="web",
                title="拖欠工资",
                region_code=region,
                status=status,
                unit_id=unit_id,
                query_code_hash="h",
                anonymous=False,
                identity_unclear=False,
                received_at=now,
                registered_at=now,
                updated_at=now,
            )
        )
        if clock:
            w = Writer(s, TOPIC, case_id, None, calendar_of(SETTINGS))
            await w.start_clock(case_id, clock, start, days, basis=f"{clock} test", unit_id=unit_id)
    return case_id


async def rows(db: Database, table: Any, *where: Any) -> list[Any]:
    async with db.sessions() as s:
        return list((await s.execute(select(table).where(*where))).all())


async def events(db: Database, case_id: str) -> list[dict[str, Any]]:
    o = messaging.outbox
    found = await rows(db, o, o.c.key == case_id)
    return [json.loads(r.value) for r in sorted(found, key=lambda r: r.id)]


async def outbox_size(db: Database) -> int:
    async with db.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(messaging.outbox)))
