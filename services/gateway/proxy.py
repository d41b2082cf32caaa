"""Forwarding the public API to the services (ARCHITECTURE §4).

The gateway checks nothing itself: it forwards the bearer token unchanged and every service
verifies it (§5). Request bodies travel as the exact bytes the client sent, so the upstream's
validation and idempotency hash see what the client sent. Routes are declared one by one so
that they appear, with summaries, in the gateway's own OpenAPI document.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request, Response

from intake.schemas import PetitionCreated, PetitionPublic
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
)

Endpoint = Callable[[Request], Awaitable[Response]]


def _headers(request: Request) -> dict[str, str]:
    headers = {name: request.headers[name] for name in FORWARD_REQUEST if name in request.headers}
    rid = xlog.request_id.get() or request.headers.get("x-request-id")
    cid = xlog.correlation_id.get() or request.headers.get("x-correlation-id") or rid
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


async def send(request: Request, service: str, path: str | None = None) -> httpx.Response:
    """Send the client's request to ``service`` (at ``path``, default the same path).

    Raises :class:`Unavailable` (503, Retry-After: 5) when the service cannot be reached or
    does not answer in time.
    """
    settings: GatewaySettings = request.app.state.settings
    client: httpx.AsyncClient = request.app.state.http
    url = settings.service_urls()[service] + (path or _path(request))
    query = request.url.query
    if query:
        url += "?" + query
    body = await request.body()
    try:
        return await client.request(
            request.method, url, content=body or None, headers=_headers(request)
        )
    except httpx.TimeoutException as exc:
        log.warning("upstream timeout", extra={"upstream": service, "error": type(exc).__name__})
        raise Unavailable(
            f"the {service} service did not answer within "
            f"{settings.upstream_timeout_seconds:g} s; retry later"
        ) from exc
    except httpx.TransportError as exc:
        log.warning("upstream unreachable", extra={"upstream": service, "error": repr(exc)[:200]})
        raise Unavailable(f"the {service} service is unreachable; retry later") from exc


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


# --- OpenAPI documentation of the proxied routes ---------------------------------------

_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
_QUERY_CODE = {"query_code": "the case's query code, instead of a bearer token"}
_PAGE = {"limit": "page size (1-200, default 50)", "cursor": "next_cursor of the last page"}
_JSON = {"application/json": {"schema": {"type": "object"}}}
_ANALYTICS = {
    "region": "region code, 6 digits (000000: the country); default the token's region",
    "unit": "unit id (scorecards, trends); a unit token sees its own only",
    "category": "category code",
    "from": "first day (YYYY-MM-DD, China time)",
    "to": "last day, default today",
    "granularity": "day, week or month (situation, trends)",
    "breakdown": "none, children or units (scorecards)",
}


def _doc(path: str, method: str, query: dict[str, str], body: bool) -> dict[str, Any]:
    """Path and query parameters, security and (for writes) a JSON body, for OpenAPI."""
    text = {"type": "string"}
    params: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": text} for n in _PARAM.findall(path)
    ]
    params += [
        {"name": n, "in": "query", "required": False, "schema": text, "description": d}
        for n, d in query.items()
    ]
    # A query code may stand in for the bearer token (the empty requirement: no token).
    security: list[dict[str, list[str]]] = [{"bearer": []}]
    if "query_code" in query:
        security.append({})
    extra: dict[str, Any] = {"parameters": params, "security": security}
    if body and method in ("POST", "PUT", "PATCH"):
        extra["requestBody"] = {"required": False, "content": _JSON}
    return extra


def _op_id(method: str, path: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "_", _PARAM.sub(r"by_\1", path).lower()).strip("_")
    return f"{method.lower()}_{words}"


# path, service, methods, tag, summary, documented query parameters
_ROUTES: list[tuple[str, str, tuple[str, ...], str, str, dict[str, str]]] = [
    ("/me/cases", "tracking", ("GET",), "cases", "A petitioner's cases", _PAGE),
    (
        "/petitions/{tracking_number}/identity",
        "intake",
        ("GET",),
        "identity",
        "The petitioner's identity in clear; every read is logged with its reason",
        {"reason": "why you need it (4-300 characters); kept in the access log"},
    ),
    (
        "/petitions/{tracking_number}/identity/access-log",
        "intake",
        ("GET",),
        "identity",
        "Who read the petitioner's identity, when and why (operators)",
        {},
    ),
    ("/units/{unit_id}/cases", "tracking", ("GET",), "cases", "A unit's inbox", _PAGE),
    (
        "/units/{unit_id}/callbacks",
        "evaluation",
        ("GET",),
        "ratings",
        "A unit's call-back tasks opened by dissatisfied ratings, soonest due first",
        {**_PAGE, "status": "open, overdue, done or cancelled (repeat for several)"},
    ),
    (
        "/callbacks/{path:path}",
        "evaluation",
        ("GET", "POST"),
        "ratings",
        "One call-back task; POST .../done records what the unit did",
        {},
    ),
    (
        "/cases/{tracking_number}/routing",
        "routing",
        ("GET",),
        "routing",
        "The routing decision and its rule path (operators, and the units it names)",
        {},
    ),
    (
        "/cases/{tracking_number}/reroute",
        "routing",
        ("POST",),
        "routing",
        "Name the handling unit by hand (operators, or the petition bureau holding the case)",
        {},
    ),
    (
        "/cases/{tracking_number}/rating",
        "evaluation",
        ("GET", "POST"),
        "ratings",
        "Satisfaction ratings of a case: read both moments, or rate one (the petitioner)",
        _QUERY_CODE,
    ),
    (
        "/cases/{tracking_number}/{action}",
        "tracking",
        ANY,
        "cases",
        "Act on a case (accept, object, extend, reply, review-requests, ...)",
        {},
    ),
    (
        "/calendar/due",
        "tracking",
        ("GET",),
        "calendar",
        "The last day of a period, counted as the Regulation counts (for agency systems)",
        {
            "start": "YYYY-MM-DD, the day the period starts from (not counted)",
            "days": "the length of the period",
            "unit": "calendar (default) or working",
        },
    ),
    (
        "/units/{unit_id}/webhooks",
        "tracking",
        ("GET", "POST"),
        "webhooks",
        "A unit's webhooks: list them, or register one (url, secret, event_types)",
        {},
    ),
    (
        "/units/{unit_id}/webhooks/{path:path}",
        "tracking",
        ANY,
        "webhooks",
        "Delete a webhook, list its deliveries (newest first), replay a delivery",
        {**_PAGE, "status": "deliveries: pending, delivered or failed"},
    ),
    (
        "/supervision",
        "tracking",
        ("GET",),
        "supervision",
        "Supervision records (operators within their region; units see their own)",
        {
            "status": "open, responded, escalated or closed",
            "unit_id": "the supervised unit",
            "bureau_unit_id": "the supervising petition bureau",
            "tracking_number": "one case",
            **_PAGE,
        },
    ),
    (
        "/supervision/{path:path}",
        "tracking",
        ANY,
        "supervision",
        "One supervision record, the unit's response, closing it",
        {},
    ),
    ("/units", "routing", ("GET",), "directory", "The unit directory", _PAGE),
    ("/units/{unit_id}", "routing", ("GET",), "directory", "One unit of the directory", {}),
    ("/units", "routing", ("POST",), "directory", "Add a unit (operators; audited)", {}),
    ("/units/{unit_id}", "routing", ("PATCH",), "directory", "Rename a unit (operators)", {}),
    (
        "/units/{unit_id}/retire",
        "routing",
        ("POST",),
        "directory",
        "Retire or merge a unit into its successor (operators; routing follows it)",
        {},
    ),
    (
        "/units/{unit_id}/changes",
        "routing",
        ("GET",),
        "directory",
        "The audit trail of a unit (operators)",
        {},
    ),
    ("/regions/{path:path}", "routing", ("GET",), "directory", "Regions of the directory", {}),
    ("/routing/{path:path}", "routing", ANY, "routing", "Routing decisions and rules", {}),
    (
        "/analytics/{path:path}",
        "evaluation",
        ANY,
        "analytics",
        "Scorecards, situation, warnings, trends (overview, scorecards, situation, warnings, "
        "trends); Accept: text/csv for CSV",
        _ANALYTICS,
    ),
]

IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "maxLength": 200},
    "description": "a retry with the same key and body answers the first result",
}
PETITION_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PetitionCreate"}}},
}


def build_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX)
    router.add_api_route(
        "/petitions",
        _to("intake"),
        methods=["POST"],
        tags=["petitions"],
        summary="Submit a petition",
        description="Send an `Idempotency-Key` header so that a retry never submits twice.",
        operation_id="post_petitions",
        status_code=201,
        responses={201: {"model": PetitionCreated, "description": "Petition received"}},
        openapi_extra={
            "parameters": [IDEMPOTENCY_KEY],
            "security": [{"bearer": []}],
            "requestBody": PETITION_BODY,
        },
    )
    router.add_api_route(
        "/petitions/{tracking_number}",
        _to("intake"),
        methods=["GET"],
        tags=["petitions"],
        summary="A submitted petition, as intake knows it (status received)",
        operation_id="get_petition",
        responses={200: {"model": PetitionPublic, "description": "The petition"}},
        openapi_extra=_doc("/petitions/{tracking_number}", "GET", _QUERY_CODE, False),
    )
    router.add_api_route(
        "/cases/{tracking_number}",
        case_view,
        methods=["GET"],
        tags=["cases"],
        summary="The case view (owner, handling unit, operator, or ?query_code=)",
        operation_id="get_case",
        openapi_extra=_doc("/cases/{tracking_number}", "GET", _QUERY_CODE, False),
    )
    for path, service, methods, tag, summary, query in _ROUTES:
        for method in methods:
            router.add_api_route(
                path,
                _to(service),
                methods=[method],
                tags=[tag],
                summary=summary,
                operation_id=_op_id(method, path),
                openapi_extra=_doc(path, method, query, True),
            )
    return router
