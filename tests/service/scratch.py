"""One migrated database per test module and kind, shared by the service tests that keep a
database across their tests and empty it before each."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from sqlalchemy import MetaData

from services.devkit import create_scratch_database, drop_scratch_database
from shared.db import Database
from shared.migrations import upgrade
from tests.conftest import need


@asynccontextmanager
async def migrated_database(service: str, kind: str, directory: Path) -> AsyncIterator[Database]:
    """``service``'s database at head: a SQLite file in ``directory``, or a scratch PostgreSQL
    database (dropped on the way out)."""
    admin = ""
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{directory}/{service}-{uuid.uuid4().hex[:6]}.db"
    else:
        admin = need("XINFANG_TEST_POSTGRES_URL", "the PostgreSQL variant of this test")
        url = await create_scratch_database(admin, "xft")
    database = Database(url)
    try:
        await upgrade(database, service)
        yield database
    finally:
        await database.dispose()
        if admin:
            await drop_scratch_database(admin, url)


async def empty(db: Database, metadata: MetaData) -> Database:
    """Deletes every row of the service's tables, children first."""
    async with db.transaction() as s:
        for table in reversed(metadata.sorted_tables):
            await s.execute(table.delete())
    return db
