"""Webhooks for agency systems (ARCHITECTURE §3: units get their own cases by API and
webhooks, never by reading topics).

Every tracking event about a unit (its data names the ``unit_id``) becomes, in the same
transaction as its outbox row, one pending delivery per active subscription of that unit
that wants its type. A worker POSTs due deliveries, signed like Stripe's webhooks, and retries
a failure with exponential backoff until ``XINFANG_WEBHOOK_RETRY_HOURS`` after the event;
every attempt is counted in the row and logged (never the secret, the body or the URL path).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database
from shared.events import Envelope
from shared.pii import PiiCipher
from shared.settings import CommonSettings
from tracking.models import webhook_deliveries as deliveries
from tracking.models import webhook_subscriptions as subscriptions

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Xinfang-Signature"
DELIVERY_HEADER = "X-Xinfang-Delivery"
EVENT_HEADER = "X-Xinfang-Event"
ALL_TYPES = "*"
# A claimed delivery is hidden from other workers this long past the POST's timeout; a worker
# that dies mid-send leaves it to be sent again after that (at least once).
LEASE_MARGIN_SECONDS = 30.0
DRAIN_SECONDS = 5.0


# --- signatures (pure) ----------------------------------------------------------------------


def _hmac(secret: str, timestamp: int, body: str | bytes) -> str:
    raw = body.encode() if isinstance(body, str) else body
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()


def sign(secret: str, timestamp: int, body: str | bytes) -> str:
    """The ``X-Xinfang-Signature`` value: ``t=<unix seconds>,v1=<hex HMAC-SHA256>`` of
    ``"<t>.<body>"`` under the subscription's secret."""
    return f"t={timestamp},v1={_hmac(secret, timestamp, body)}"


def verify(
    secret: str, header: str, body: str | bytes, tolerance: float = 300, now: float | None = None
) -> bool:
    """Whether ``header`` signs exactly ``body`` with ``secret`` at a time within ``tolerance``
    seconds of ``now`` (an old delivery captured and sent again is refused)."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = _hmac(secret, timestamp, body)
    return any(hmac.compare_digest(expected, c) for c in candidates)


# --- retries (pure) -------------------------------------------------------------------------


def backoff(attempts: int, first: float, cap: float) -> float:
    """Seconds to wait after the ``attempts``-th failure: ``first``, doubling, at most ``cap``."""
    return min(cap, first * 2.0 ** min(max(attempts - 1, 0), 60))


def next_attempt(
    created_at: datetime, failed_at: datetime, attempts: int, settings: CommonSettings
) -> datetime | None:
    """When to try again after a failure, or None once that is past the retry window."""
    wait = backoff(attempts, settings.webhook_backoff_seconds, settings.webhook_backoff_max_seconds)
    at = failed_at + timedelta(seconds=wait)
    return at if at <= created_at + timedelta(hours=settings.webhook_retry_hours) else None


def wants(event_types: Sequence[str], event_type: str) -> bool:
    return ALL_TYPES in event_types or event_type in event_types


# --- secrets at rest ------------------------------------------------------------------------


def cipher(settings: CommonSettings) -> PiiCipher:
    """The PII key encrypts webhook secrets too (rotation: ``XINFANG_PII_OLD_KEYS``)."""
    old = {kid: key.get_secret_value() for kid, key in settings.pii_old_keys.items()}
    return PiiCipher(settings.pii_key_id, settings.pii_key.get_secret_value(), old_keys=old)


def secret_context(subscription_id: str) -> str:
    """Binds a ciphertext to its subscription: it cannot be copied onto another one."""
    return f"webhook-secret:{subscription_id}"


# --- fan-out (in the emitting transaction) ----------------------------------------------------


async def fan_out(session: AsyncSession, envelope: Envelope) -> int:
    """One pending delivery per active subscription of the event's unit that wants its type
    (and of every unit an event about several names in ``unit_ids``, e.g. a joint reception);
    called right after the outbox row, so both commit or neither does."""
    units = [envelope.data.get("unit_id")] + list(envelope.data.get("unit_ids") or [])
    units = list(dict.fromkeys(u for u in units if isinstance(u, str) and u))
    if not units:
        return 0
    subs = (
        await session.execute(
            select(subscriptions.c.id, subscriptions.c.unit_id, subscriptions.c.event_types).where(
                subscriptions.c.unit_id.in_(units), subscriptions.c.active.is_(True)
            )
        )
    ).all()
    wanted = [(s.id, s.unit_id) for s in subs if wants(s.event_types, envelope.type)]
    if not wanted:
        return 0
    now = datetime.now(UTC)
    body = envelope.model_dump_json()
    await session.execute(
        insert(deliveries),
        [
            {
                "id": str(uuid.uuid4()),
                "subscription_id": sub_id,
                "unit_id": unit_id,
                "event_id": envelope.id,
                "event_type": envelope.type,
                "case_id": envelope.data.get("case_id"),
                "body": body,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
            }
            for sub_id, unit_id in wanted
        ],
    )
    return len(wanted)


# --- the delivery worker ----------------------------------------------------------------------


class DeliveryWorker:
    """Claims due deliveries, POSTs them concurrently, records each outcome."""

    def __init__(
        self,
        db: Database,
        settings: CommonSettings,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.db, self.settings = db, settings
        self.cipher = cipher(settings)
        self.client = httpx.AsyncClient(
            timeout=settings.webhook_timeout_seconds,
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": "Xinfang-Webhooks/1"},
        )

    async def run(self) -> None:
        """Keeps up to a batch of POSTs in flight: a receiver that hangs holds one slot until
        its timeout, never a whole round. On shutdown the POSTs in flight may finish briefly;
        the rest stay leased and are sent again later."""
        inflight: set[asyncio.Task[None]] = set()
        pause = 1.0
        try:
            while True:
                try:
                    free = self.settings.webhook_batch_size - len(inflight)
                    claimed = await self.claim(free) if free > 0 else []
                    for row in claimed:
                        task = asyncio.create_task(self.attempt(row))
                        inflight.add(task)
                        task.add_done_callback(inflight.discard)
                    pause = 1.0
                    if free <= 0:
                        await asyncio.wait(
                            inflight,
                            timeout=self.settings.webhook_poll_seconds,
                            return_when=asyncio.FIRST_COMPLETED,
                        )
                    elif len(claimed) < free:  # nothing more is due now
                        await asyncio.sleep(self.settings.webhook_poll_seconds)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("webhook worker error, retrying", extra={"error": repr(exc)[:300]})
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 30.0)
        finally:
            if inflight:
                _done, pending = await asyncio.wait(inflight, timeout=DRAIN_SECONDS)
                for task in pending:
                    task.cancel()
            await self.close()

    async def close(self) -> None:
        await self.client.aclose()

    async def deliver_due(self) -> int:
        """One round: the due deliveries (at most a batch), sent at once. Returns how many."""
        due = await self.claim(self.settings.webhook_batch_size)
        await asyncio.gather(*(self.attempt(row) for row in due))
        return len(due)

    async def claim(self, limit: int) -> list[Any]:
        """At most ``limit`` due rows, hidden from other workers for the length of a send.
        On PostgreSQL, ``SKIP LOCKED`` lets replicas claim side by side without ever taking
        the same row; SQLite's writers take turns (BEGIN IMMEDIATE), so the lease suffices."""
        now = datetime.now(UTC)
        lease = timedelta(seconds=self.settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS)
        q = (
            select(
                deliveries.c.id,
                deliveries.c.subscription_id,
                deliveries.c.unit_id,
                deliveries.c.event_type,
                deliveries.c.body,
                deliveries.c.attempts,
                deliveries.c.created_at,
                subscriptions.c.url,
                subscriptions.c.secret,
            )
            .join(subscriptions, subscriptions.c.id == deliveries.c.subscription_id)
            .where(
                deliveries.c.status == "pending",
                deliveries.c.next_attempt_at <= now,
                subscriptions.c.active.is_(True),
            )
            .order_by(deliveries.c.next_attempt_at)
            .limit(limit)
        )
        if self.db.dialect == "postgresql":
            q = q.with_for_update(skip_locked=True, of=deliveries)
        async with self.db.transaction() as s:
            rows = (await s.execute(q)).all()
            if rows:
                await s.execute(
                    update(deliveries)
                    .where(deliveries.c.id.in_([r.id for r in rows]))
                    .values(next_attempt_at=now + lease)
                )
        return list(rows)

    async def attempt(self, row: Any) -> None:
        started = time.perf_counter()
        status, error = await self._post(row)
        now = datetime.now(UTC)
        values: dict[str, Any] = {
            "attempts": deliveries.c.attempts + 1,
            "last_status": status,
            "last_error": error,
        }
        if error is None:
            outcome = "delivered"
            values.update(status="delivered", delivered_at=now, next_attempt_at=None)
        else:
            retry_at = next_attempt(row.created_at, now, row.attempts + 1, self.settings)
            outcome = "retry" if retry_at else "failed"
            values.update(status="pending" if retry_at else "failed", next_attempt_at=retry_at)
        try:
            async with self.db.transaction() as s:
                q = update(deliveries).where(deliveries.c.id == row.id).values(**values)
                await s.execute(q)
        except Exception as exc:  # not recorded: the lease expires and it is sent again
            log.warning("webhook attempt not recorded", extra={"error": repr(exc)[:300]})
            return
        log.log(
            logging.INFO if outcome == "delivered" else logging.WARNING,
            "webhook delivery attempt",
            extra={
                "delivery_id": row.id,
                "webhook_id": row.subscription_id,
                "unit_id": row.unit_id,
                "event_type": row.event_type,
                "attempt": row.attempts + 1,
                "outcome": outcome,
                "http_status": status,
                "error": error and error.split(":")[0],
                "host": urlsplit(row.url).hostname,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )

    async def _post(self, row: Any) -> tuple[int | None, str | None]:
        """(HTTP status, error): the error is None for a 2xx. The response body is never
        read, so a receiver cannot make the worker hold a large answer."""
        try:
            secret = self.cipher.decrypt(row.secret, context=secret_context(row.subscription_id))
        except Exception as exc:  # a key removed from XINFANG_PII_OLD_KEYS too early
            return None, f"secret unreadable: {type(exc).__name__} (was the PII key rotated?)"
        body = row.body.encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(secret or "", int(time.time()), body),
            DELIVERY_HEADER: row.id,
            EVENT_HEADER: row.event_type,
        }
        try:
            async with self.client.stream("POST", row.url, content=body, headers=headers) as r:
                status = r.status_code
        except Exception as exc:  # refused, timed out, TLS, bad address: all worth a retry
            return None, f"{type(exc).__name__}: {exc}"[:500]
        return status, None if 200 <= status < 300 else f"HTTP {status}"


def delivery_loop(settings: CommonSettings) -> Callable[[Database], Awaitable[None]]:
    """The worker as a background loop of the service app (``create_service_app``)."""

    async def run(db: Database) -> None:
        await DeliveryWorker(db, settings).run()

    return run
