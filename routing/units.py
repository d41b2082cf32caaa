"""The unit directory in routing's database: seeded from the generated national directory,
idempotently, and kept by operators afterwards (their changes are never overwritten)."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from routing.directory import Unit, generate
from routing.models import directory_state, unit_changes, units
from shared.db import Database

log = logging.getLogger(__name__)
CHUNK = 5000
_LOCK = 0x78696E66616E67  # advisory lock key of the directory seed ("xinfang")
COLUMNS = (
    "id",
    "name",
    "region_code",
    "level",
    "function",
    "parent_id",
    "status",
    "origin",
    "updated_at",
)


def version(generated: list[Unit]) -> str:
    digest = hashlib.sha256()
    for u in generated:
        digest.update(f"{u.id}|{u.name}|{u.parent_id}\n".encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Seeded:
    inserted: int
    total: int
    version: str
    seconds: float


async def seed(db: Database, actor: str = "system:seed") -> Seeded:
    """Insert the generated units the directory does not have yet. Running it again, or on
    every start, changes nothing once the directory holds this version."""
    started = time.perf_counter()
    generated = generate()
    current = version(generated)
    async with db.transaction() as s:
        if db.dialect == "postgresql":  # replicas starting together: one seeds, others wait
            await s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
        seen = (
            await s.execute(
                select(directory_state.c.value).where(directory_state.c.name == "generated")
            )
        ).scalar()
        if seen == current:
            return Seeded(0, len(generated), current, time.perf_counter() - started)
        existing = set((await s.execute(select(units.c.id))).scalars())
        missing = [u for u in generated if u.id not in existing]
        now = datetime.now(UTC)
        rows = [
            (
                u.id,
                u.name,
                u.region_code,
                u.level,
                u.function,
                u.parent_id,
                "active",
                "generated",
                now,
            )
            for u in missing
        ]
        await _insert(s, db.dialect, rows)
        await s.execute(
            unit_changes.insert().values(
                unit_id="*",
                action="seed",
                actor=actor,
                reason="generated national directory",
                after={"version": current, "inserted": len(missing), "total": len(generated)},
                at=now,
            )
        )
        insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
        stmt = insert(directory_state).values(name="generated", value=current, at=now)
        await s.execute(
            stmt.on_conflict_do_update(
                index_elements=[directory_state.c.name], set_={"value": current, "at": now}
            )
        )
    result = Seeded(len(missing), len(generated), current, time.perf_counter() - started)
    log.info(
        "unit directory seeded",
        extra={
            "inserted": result.inserted,
            "total": result.total,
            "version": current,
            "seconds": round(result.seconds, 2),
        },
    )
    return result


async def _insert(s: AsyncSession, dialect: str, rows: list[tuple[object, ...]]) -> None:
    if dialect == "postgresql" and rows:
        # COPY: 100,000 rows in about a second, where INSERTs take many
        raw = await (await s.connection()).get_raw_connection()
        await raw.driver_connection.copy_records_to_table(
            "units", records=rows, columns=list(COLUMNS)
        )
        return
    for i in range(0, len(rows), CHUNK):
        await s.execute(
            units.insert(), [dict(zip(COLUMNS, row, strict=True)) for row in rows[i : i + CHUNK]]
        )
