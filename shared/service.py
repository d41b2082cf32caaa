"""The shape every service shares: settings, database, outbox relay, consumer, health,
metrics, logging and problem+json, assembled by :func:`create_service_app`."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from shared import errors, metrics
from shared import logging as xlog
from shared.db import Database
from shared.messaging.consumer import EventConsumer, Handler
from shared.messaging.outbox import OutboxRelay
from shared.messaging.tables import MessagingTables
from shared.migrations import current_revision, head_revision, upgrade
from shared.settings import ServiceSettings

log = logging.getLogger(__name__)


def install_http_basics(app: FastAPI, service: str) -> None:
    """Request and correlation ids, access log without query strings, HTTP metrics."""

    @app.middleware("http")
    async def _context(request: Request, call_next):  # type: ignore[no-untyped-def]
        rid = request.headers.get("x-request-id") or str(uuid.uuid4())
        cid = request.headers.get("x-correlation-id") or rid
        t1 = xlog.request_id.set(rid)
        t2 = xlog.correlation_id.set(cid)
        start = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["X-Request-ID"] = rid
            response.headers["X-Correlation-ID"] = cid
            return response
        finally:
            elapsed = time.perf_counter() - start
            route = request.scope.get("route")
            template = getattr(route, "path", "unmatched")
            metrics.HTTP_REQUESTS.labels(service, request.method, template, str(status)).inc()
            metrics.HTTP_LATENCY.labels(service, request.method, template).observe(elapsed)
            if template not in ("/healthz", "/readyz", "/metrics"):
                log.info(
                    "request",
                    extra={
                        "method": request.method,
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            xlog.request_id.reset(t1)
            xlog.correlation_id.reset(t2)

    errors.install(app)
    app.add_route("/metrics", metrics.metrics_endpoint, include_in_schema=False)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "alive", "service": service}


class Runtime:
    """What a running service holds: its database, relay and consumer."""

    def __init__(self, db: Database, relay: OutboxRelay, consumer: EventConsumer | None) -> None:
        self.db, self.relay, self.consumer = db, relay, consumer

    async def status(self) -> dict[str, object]:
        consumer = self.consumer
        return {
            "outbox_backlog": await self.relay.backlog(),
            "consumer": None
            if consumer is None
            else {
                "group": consumer.group,
                "lag": consumer.lag,
                "parked": await consumer.parked_count(),
                "dead_lettered": consumer.dead_lettered,
            },
        }


def create_service_app(
    *,
    name: str,
    settings: ServiceSettings,
    tables: MessagingTables,
    package: str,
    routers: Sequence[APIRouter] = (),
    handlers: dict[str, Handler] | None = None,
    consumes: Sequence[str] = (),
    title: str = "",
    on_start: Callable[[Database], Awaitable[object]] | None = None,
    background: Sequence[Callable[[Database], Awaitable[None]]] = (),
) -> FastAPI:
    """``on_start`` runs once the database is migrated, before the service takes traffic
    (routing seeds its unit directory there). ``background`` loops run beside the relay and
    the consumer until shutdown (routing follows directory edits made by other replicas)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        xlog.configure(name, settings.log_level)
        db = Database(settings.database_url_or_default())
        if settings.migrate_on_start:
            await upgrade(db, package)
        if on_start is not None:
            await on_start(db)
        relay = OutboxRelay(db, tables, settings, settings.topic(name), name)
        relay.wake_on_commit()
        consumer = None
        if handlers:
            consumer = EventConsumer(
                db, tables, settings, name, [settings.topic(s) for s in consumes], handlers
            )
        app.state.db = db
        app.state.runtime = Runtime(db, relay, consumer)
        tasks = [asyncio.create_task(relay.run(), name=f"{name}-relay")]
        if consumer is not None:
            tasks.append(asyncio.create_task(consumer.run(), name=f"{name}-consumer"))
        loops = [asyncio.create_task(loop(db), name=f"{name}-background") for loop in background]
        log.info(
            "service started",
            extra={"database": db.dialect, "broker": settings.kafka_bootstrap_servers},
        )
        try:
            yield
        finally:
            # Drain: stop taking events; the relay publishes what is committed, then stops.
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            if consumer is not None:
                await consumer.stop()
            await relay.stop()
            _done, pending = await asyncio.wait(tasks, timeout=10)
            for task in pending:
                task.cancel()
            await db.dispose()
            log.info("service stopped")

    app = FastAPI(title=title or f"Xinfang {name}", lifespan=lifespan, version="0.1.0")
    head = head_revision(package)
    app.state.settings = settings
    install_http_basics(app, name)

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        """Ready when the database answers and its schema is at this code's head revision
        (a pod started before the release's migration job finished is not ready)."""
        unready = {"status_code": 503, "headers": {"Retry-After": "5"}}
        try:
            current = await asyncio.wait_for(current_revision(request.app.state.db), 3)
        except Exception as exc:
            return JSONResponse(
                {"status": "unready", "database": "down", "error": type(exc).__name__}, **unready
            )
        if current != head:
            return JSONResponse(
                {"status": "unready", "database": "up", "schema": current, "expected_schema": head},
                **unready,
            )
        return JSONResponse({"status": "ready", "database": "up", "schema": current})

    @app.get("/internal/status", include_in_schema=False)
    async def internal_status(request: Request) -> dict[str, object]:
        return {"service": name, **await request.app.state.runtime.status()}

    for router in routers:
        app.include_router(router)
    return app
