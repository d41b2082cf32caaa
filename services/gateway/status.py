"""``GET /status``: every process, the broker, the databases, lag, backlog and dead letters.

200 when every service is up (its ``/readyz`` answers 200: the process and its database are
up) and the broker answers; 503 with ``Retry-After`` otherwise. Lag, outbox backlog and
dead-letter counts are reported, never gating (ARCHITECTURE §4). Each service's entry also
shows the gateway's circuit breaker for it (``breaker``: state, consecutive failures, and the
seconds until it lets a call through), reported, not gating.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from services.gateway.settings import GatewaySettings
from shared.messaging import kafka
from shared.settings import SERVICES

router = APIRouter(tags=["operations"])


@dataclass(frozen=True)
class Probe:
    """One HTTP probe: the status code and JSON body, or why there is none."""

    status_code: int | None = None
    body: Any = None
    error: str | None = None


async def probe(client: httpx.AsyncClient, url: str, timeout: float) -> Probe:
    try:
        response = await client.get(url, timeout=timeout)
    except httpx.TimeoutException:
        return Probe(error=f"no answer within {timeout:g} s")
    except httpx.HTTPError as exc:
        return Probe(error=f"unreachable: {type(exc).__name__}: {exc}"[:200])
    try:
        body = response.json()
    except ValueError:
        body = None
    return Probe(status_code=response.status_code, body=body)


async def broker_up(settings: GatewaySettings) -> bool:
    timeout = settings.status_timeout_seconds
    try:
        return await asyncio.wait_for(kafka.broker_ready(settings, timeout), timeout + 1)
    except TimeoutError:
        return False


async def dead_letters(settings: GatewaySettings) -> dict[str, int | None]:
    """Messages held by each dead-letter topic (None when the broker cannot tell us)."""
    topics = [settings.dlq_topic(settings.topic(s)) for s in SERVICES]
    try:
        return dict(
            await asyncio.wait_for(
                kafka.topic_sizes(settings, topics, "xinfang-gateway-status"),
                settings.status_timeout_seconds + 1,
            )
        )
    except Exception:
        return dict.fromkeys(topics)


def service_report(url: str, ready: Probe, internal: Probe) -> dict[str, Any]:
    """One service's entry: up/down from ``/readyz``, the rest from ``/internal/status``."""
    ready_body = ready.body if isinstance(ready.body, dict) else {}
    if ready.status_code is None:
        database = "unknown"
    elif ready_body.get("database") in ("up", "down"):
        database = ready_body["database"]
    else:
        database = "up" if ready.status_code == 200 else "unknown"
    up = ready.status_code == 200 and database != "down"
    info = internal.body if internal.status_code == 200 and isinstance(internal.body, dict) else {}
    error: str | None = None
    if not up:
        if ready.error:
            error = ready.error
        elif database == "down":
            error = "its database is down"
        else:
            error = f"/readyz answered {ready.status_code}"
    elif not info:
        error = internal.error or f"/internal/status answered {internal.status_code}"
    return {
        "status": "up" if up else "down",
        "url": url,
        "database": database,
        "outbox_backlog": info.get("outbox_backlog"),
        "consumer": info.get("consumer"),
        "error": error,
    }


def summarize(
    services: Mapping[str, dict[str, Any]],
    broker: bool,
    bootstrap_servers: str,
    checked_at: datetime,
    dlq: Mapping[str, int | None] | None = None,
) -> tuple[int, dict[str, Any]]:
    """The HTTP status and body of ``GET /status`` from the per-service reports."""
    ok = broker and all(s["status"] == "up" for s in services.values())
    body = {
        "status": "ok" if ok else "degraded",
        "checked_at": checked_at.isoformat(),
        "gateway": {"status": "up"},
        "broker": {"status": "up" if broker else "down", "bootstrap_servers": bootstrap_servers},
        "services": dict(services),
        "dead_letters": dict(dlq or {}),
    }
    return (200 if ok else 503), body


async def collect(
    client: httpx.AsyncClient, settings: GatewaySettings
) -> tuple[int, dict[str, Any]]:
    """Probe everything at once (each probe bounded by ``status_timeout_seconds``)."""
    urls = settings.service_urls()
    timeout = settings.status_timeout_seconds
    probes = [
        probe(client, f"{url}{suffix}", timeout)
        for url in urls.values()
        for suffix in ("/readyz", "/internal/status")
    ]
    results, broker = await asyncio.gather(asyncio.gather(*probes), broker_up(settings))
    dlq = await dead_letters(settings) if broker else {}
    services = {
        name: service_report(url, results[2 * i], results[2 * i + 1])
        for i, (name, url) in enumerate(urls.items())
    }
    return summarize(services, broker, settings.kafka_bootstrap_servers, datetime.now(UTC), dlq)


@router.get(
    "/status",
    summary="Status of every process, the broker and the databases (200 ok, 503 degraded)",
)
async def status(request: Request) -> JSONResponse:
    code, body = await collect(request.app.state.http, request.app.state.settings)
    # The gateway's own view: whether it is calling the service at all (breaker.py).
    for name, breaker in getattr(request.app.state, "breakers", {}).items():
        if name in body["services"]:
            body["services"][name]["breaker"] = breaker.snapshot()
    headers = {"Retry-After": "5"} if code != 200 else None
    return JSONResponse(body, status_code=code, headers=headers)
