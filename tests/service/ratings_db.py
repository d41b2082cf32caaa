"""What the rating service tests share: one migrated evaluation database per module and kind,
emptied before each test, and cases in evaluation's read model at a given moment."""

from __future__ import annotations

import json
import uuid
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

from sqlalchemy import select

from evaluation.models import case_reads, messaging, metadata
from shared import querycode
from shared import tracking_number as numbers
from shared.db import Database
from shared.settings import CommonSettings
from tests.service import scratch

SETTINGS = CommonSettings(topic_prefix="svc")
QUERY_CODE = "K7M3QX9P"
QUERY_CODE_HASH = querycode.hash_code(QUERY_CODE)
_numbers = count(1)


def migrated_database(kind: str, directory: Path) -> AbstractAsyncContextManager[Database]:
    """An evaluation database at head (see ``tests.service.scratch``)."""
    return scratch.migrated_database("evaluation", kind, directory)


async def empty(db: Database) -> Database:
    return await scratch.empty(db, metadata)


async def add_case(db: Database, **facts: Any) -> Any:
    """A first-time online grievance of ``owner-1`` at 110107:hrss (override any fact)."""
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "case_id": str(uuid.uuid4()),
        "tracking_number": numbers.make("110107", now.date(), next(_numbers)),
        "status": "in_progress",
        "kind": "grievance",
        "channel": "web",
        "category": "wage_arrears",
        "region_code": "110107011",
        "unit_id": "110107:hrss",
        "anonymous": False,
        "identity_unclear": False,
        "registered_at": now,
        "updated_at": now,
        "owner_ref": "owner-1",
        "query_code_hash": QUERY_CODE_HASH,
    }
    values.update(facts)
    async with db.transaction() as s:
        await s.execute(case_reads.insert().values(**values))
        return (
            await s.execute(select(case_reads).where(case_reads.c.case_id == values["case_id"]))
        ).one()


async def rows(db: Database, table: Any, *where: Any) -> list[Any]:
    async with db.sessions() as s:
        return list((await s.execute(select(table).where(*where))).all())


async def events(db: Database, case_id: str) -> list[dict[str, Any]]:
    o = messaging.outbox
    found = await rows(db, o, o.c.key == case_id)
    return [json.loads(r.value) for r in sorted(found, key=lambda r: r.id)]
