"""One holder among replicas: a lease on a PostgreSQL session advisory lock.

The outbox relay (one publisher per topic) and tracking's clock scheduler (one scanner) hold
one each. The lock lives on a dedicated connection: it is held while that session lives, and
ends with it if the holder dies, so another replica takes over at its next try. SQLite is the
single-process embedded default: there the lease is always held.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import Database

log = logging.getLogger(__name__)


def lease_key(name: str) -> int:
    """The advisory lock key of a lease name (signed 64 bits of its SHA-256)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class Lease:
    def __init__(self, db: Database, name: str) -> None:
        self.db, self.name = db, name
        self.key = lease_key(name)
        self._conn: AsyncConnection | None = None

    @property
    def held(self) -> bool:
        """Whether this replica holds the lock right now (always False on SQLite)."""
        return self._conn is not None

    async def hold(self) -> bool:
        """True when this replica holds the lease: kept if it still has it (its session is
        alive), else taken if nobody else has it. Never waits."""
        if self.db.dialect != "postgresql":
            return True
        if self._conn is not None:
            try:
                await self._conn.execute(text("SELECT 1"))
                await self._conn.commit()
                return True
            except Exception:
                await self.release()
        conn = await self.db.engine.connect()
        try:
            got = (
                await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
            ).scalar()
            await conn.commit()
        except BaseException:
            await conn.close()
            raise
        if got:
            self._conn = conn
            log.info("lease acquired", extra={"lease": self.name})
            return True
        await conn.close()
        return False

    async def release(self) -> None:
        """Unlock before the connection goes back to the pool (a pooled session would keep
        the lock); if that fails, discard the connection so its session, and lock, end."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            await conn.commit()
            await conn.close()
        except Exception:
            with contextlib.suppress(Exception):
                await conn.invalidate()
                await conn.close()


async def every(
    lease: Lease, seconds: float, tick: Callable[[], Awaitable[object]], what: str
) -> None:
    """Runs ``tick`` (which tries the lease itself) every ``seconds`` until cancelled: a failed
    tick is logged as ``<what> failed, retrying`` and the next one tries again; the lease is
    released on the way out."""
    try:
        while True:
            try:
                await tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(f"{what} failed, retrying", extra={"error": repr(exc)[:300]})
            await asyncio.sleep(seconds)
    finally:
        await lease.release()
