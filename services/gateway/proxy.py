"""Forwarding the public API to the services (ARCHITECTURE §4).

The gateway checks nothing itself: it forwards the bearer token unchanged and every service
verifies it (§5). Request bodies travel as the exact bytes the client sent, so the upstream's
validation and idempotency hash see what the client sent. Each route names (``UPSTREAM``)
the service whose own OpenAPI document describes it: ``services/gateway/openapi.py`` merges
those documents into the gateway's ``/openapi.json``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request, Response

from services.gateway.breaker import CircuitBreaker
from services.gateway.settings import GatewaySettings
from shared import logging as xlog
from shared.errors import Unavailable

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
ANY = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Request headers passed on as they came; X-Request-ID / X-Correlation-ID come from context.
FORWARD_REQUEST = ("authorization", "idempotency-key", "content-type", "accept")
# Upstream response headers passed back besides Content-Type.
FORWARD_RESPONSE = (
    "location",
    "retry-after",
    "idempotent-replayed",
    "www-authenticate",
    "content-disposition",  # a CSV export's file name
    "allow",  # a 405 must say which methods the resource takes (RFC 9110 §15.5.6)
)

Endpoint = Callable[[Request], Awaitable[Response]]


def _headers(request: Request) -> dict[str, str]:
    # A field value excludes surrounding whitespace (RFC 9110 §5.5), and h11 refuses to send
    # it: "Bearer " must reach the service as "Bearer" (401), not fail here as unreachable.
    headers = {n: request.headers[n].strip() for n in FORWARD_REQUEST if n in request.headers}
    rid = (xlog.request_id.get() or request.headers.get("x-request-id") or "").strip()
    cid = xlog.correlation_id.get() or request.headers.get("x-correlation-id") or ""
    cid = cid.strip() or rid
    if rid:
        headers["X-Request-ID"] = rid
    if cid:
        headers["X-Correlation-ID"] = cid
    if request.client:
        # The services rate-limit query-code lookups per client; they see the real one
        # when they trust the gateway's address (uvicorn --forwarded-allow-ips).
        headers["X-Forwarded-For"] = request.client.host
    return headers


def _path(request: Request) -> str:
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if raw else request.url.path


async def send(
    request: Request, service: str, path: str | None = None, content: bytes | None = None
) -> httpx.Response:
    """Send the client's request to ``service`` (at ``path``, default the same path; with
    ``content`` as its body, default the client's).

    Raises :class:`Unavailable` (503 with Retry-After) when the service cannot be reached or
    does not answer in time, and :class:`CircuitOpen` (503, the time left) without calling it
    while its breaker is open (services/gateway/breaker.py).
    """
    settings: GatewaySettings = request.app.state.settings
    client: httpx.AsyncClient = request.app.state.http
    breaker: CircuitBreaker = request.app.state.breakers[service]
    url = settings.service_urls()[service] + (path or _path(request))
    query = request.url.query
    if query and content is None:
        url += "?" + query
    body = content if content is not None else await request.body()
    breaker.admit()
    try:
        response = await client.request(
            request.method, url, content=body or None, headers=_headers(request)
        )
    except httpx.PoolTimeout as exc:  # the gateway's own connections are busy: no verdict
        breaker.abandoned()
        log.warning("upstream pool exhausted", extra={"upstream": service})
        raise Unavailable(f"the gateway is too busy to reach the {service} service; retry") from exc
    except httpx.TimeoutException as exc:
        log.warning("upstream timeout", extra={"upstream": service, "error": type(exc).__name__})
        if isinstance(exc, httpx.ConnectTimeout):
            what = f"accept a connection within {settings.upstream_connect_timeout_seconds:g} s"
        else:
            what = f"answer within {settings.upstream_timeout_seconds:g} s"
        raise Unavailable(
            f"the {service} service did not {what}; retry later", breaker.failed() or 5
        ) from exc
    except httpx.TransportError as exc:
        log.warning("upstream unreachable", extra={"upstream": service, "error": repr(exc)[:200]})
        raise Unavailable(
            f"the {service} service is unreachable; retry later", breaker.failed() or 5
        ) from exc
    except BaseException:  # cancelled (the client went away): no verdict on the service
        breaker.abandoned()
        raise
    breaker.record(response.status_code)
    return response


def relay(upstream: httpx.Response) -> Response:
    """The upstream's status, body, content type and the headers a client needs."""
    headers = {k: upstream.headers[k] for k in FORWARD_RESPONSE if k in upstream.headers}
    if "content-type" in upstream.headers:
        headers["content-type"] = upstream.headers["content-type"]
    return Response(content=upstream.content, status_code=upstream.status_code, headers=headers)


def _to(service: str) -> Endpoint:
    async def forward(request: Request) -> Response:
        return relay(await send(request, service))

    return forward


async def case_view(request: Request) -> Response:
    """Tracking's case view; until tracking has recorded a new case, intake's (received)."""
    tracking = await send(request, "tracking")
    if tracking.status_code != 404:
        return relay(tracking)
    number = quote(request.path_params["tracking_number"], safe="-")
    intake = await send(request, "intake", f"{PREFIX}/petitions/{number}")
    return relay(tracking if intake.status_code == 404 else intake)


# --- OpenAPI: the services document these routes (services/gateway/openapi.py) ---------

UPSTREAM = "x-upstream"  # the service a route forwards to, whose OpenAPI document describes it


def _doc(service: str) -> dict[str, Any]:
    """Out of the gateway's generated schema: the merged document describes the route."""
    return {"include_in_schema": False, "openapi_extra": {UPSTREAM: service}}


# path, service, methods
_ROUTES: list[tuple[str, str, tuple[str, ...]]] = [
    ("/me/cases", "tracking", ("GET",)),
    ("/petitions/{tracking_number}/identity", "intake", ("GET",)),
    ("/petitions/{tracking_number}/identity/access-log", "intake", ("GET",)),
    ("/units/{unit_id}/cases", "tracking", ("GET",)),
    ("/units/{unit_id}/callbacks", "evaluation", ("GET",)),
    ("/callbacks/{path:path}", "evaluation", ("GET", "POST")),
    ("/cases/{tracking_number}/routing", "routing", ("GET",)),
    ("/cases/{tracking_number}/reroute", "routing", ("POST",)),
    ("/cases/{tracking_number}/rating", "evaluation", ("GET", "POST")),
    ("/cases/{tracking_number}/{action}", "tracking", ANY),
    ("/calendar/due", "tracking", ("GET",)),
    ("/units/{unit_id}/webhooks", "tracking", ("GET", "POST")),
    ("/units/{unit_id}/webhooks/{path:path}", "tracking", ANY),
    ("/receptions", "tracking", ("GET",)),
    ("/receptions/{path:path}", "tracking", ANY),
    ("/channels", "intake", ("GET", "POST")),
    ("/channels/{code}", "intake", ("GET", "PATCH")),
    ("/channels/{code}/close", "intake", ("POST",)),
    ("/supervision", "tracking", ("GET",)),
    ("/supervision/{path:path}", "tracking", ANY),
    ("/units", "routing", ("GET",)),
    ("/units/{unit_id}", "routing", ("GET",)),
    ("/units", "routing", ("POST",)),
    ("/units/{unit_id}", "routing", ("PATCH",)),
    ("/units/{unit_id}/retire", "routing", ("POST",)),
    ("/units/{unit_id}/changes", "routing", ("GET",)),
    ("/regions/{path:path}", "routing", ("GET",)),
    ("/routing/{path:path}", "routing", ANY),
    ("/analytics/{path:path}", "evaluation", ANY),
]


def build_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX)
    router.add_api_route("/petitions", _to("intake"), methods=["POST"], **_doc("intake"))
    router.add_api_route(
        "/petitions/{tracking_number}", _to("intake"), methods=["GET"], **_doc("intake")
    )
    # its fallback to intake is documented in services/gateway/openapi.py (FALLBACKS)
    router.add_api_route("/cases/{tracking_number}", case_view, methods=["GET"], **_doc("tracking"))
    for path, service, methods in _ROUTES:
        for method in methods:
            router.add_api_route(path, _to(service), methods=[method], **_doc(service))
    return router
