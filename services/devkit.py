"""Helpers that tests and benchmarks share: scratch PostgreSQL databases and percentiles."""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine


async def admin_sql(url: str, sql: str, timeout: float = 30) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE) as the admin URL."""
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT", connect_args={"timeout": 5})
    try:
        async with engine.connect() as conn:
            await asyncio.wait_for(conn.execute(text(sql)), timeout)
    finally:
        await engine.dispose()


async def create_scratch_database(admin: str, prefix: str) -> str:
    """A new, empty database next to the admin URL's; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await admin_sql(admin, f'CREATE DATABASE "{name}"')
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


async def drop_scratch_database(admin: str, url: str) -> None:
    name = make_url(url).database
    await admin_sql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]
