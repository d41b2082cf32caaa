"""What the gateway does before forwarding: rate limits, a body size limit, and CORS.

Rate limits (token buckets, per gateway replica, see README "Gateway protection"):

- a request with a bearer token that verifies (shared.auth) spends the bucket of its principal
  (role and subject); the token still goes to the service unchanged, which verifies it again;
- any other request (no token, or one that does not verify: a forged token spends only the
  bucket of the address it comes from) spends the bucket of its client address (an IPv6
  client's /64); the address is the one uvicorn resolved from ``X-Forwarded-For`` when the peer
  is a trusted proxy (``FORWARDED_ALLOW_IPS``);
- a request carrying ``query_code`` also spends a much smaller bucket of its client address.

Every limited answer carries ``RateLimit-Limit``, ``RateLimit-Remaining``, ``RateLimit-Reset``
and ``RateLimit-Policy`` (draft-ietf-httpapi-ratelimit-headers-07, separate fields) for the
bucket nearest to empty; a refusal is 429 problem+json with ``Retry-After``. ``/healthz``,
``/readyz``, ``/metrics`` and ``/status`` are never limited.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Callable
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from starlette.datastructures import MutableHeaders
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.breaker import Breakers
from services.gateway.settings import GatewaySettings
from shared.auth import verify_token
from shared.errors import TooManyRequests, problem
from shared.ratelimit import Quota, TokenBucket

EXEMPT = frozenset({"/healthz", "/readyz", "/metrics", "/status"})
WINDOW_SECONDS = 60
# What a browser client may send, and read from the answers (CORS).
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "Accept",
    "Idempotency-Key",
    "X-Request-ID",
    "X-Correlation-ID",
]
CORS_EXPOSED_HEADERS = [
    "Location",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
    "X-Request-ID",
    "X-Correlation-ID",
    "Idempotent-Replayed",
    "Content-Disposition",
]

RATE_LIMITED = Counter(
    "xinfang_gateway_rate_limited_total",
    "Requests the gateway refused with 429, by the limit that refused them",
    ["limit"],
)
TOO_LARGE = Counter("xinfang_gateway_body_too_large_total", "Requests the gateway refused with 413")
DETAIL = {
    "principal": "too many requests for this account",
    "ip": "too many requests from this address",
    "query_code": "too many query-code lookups from this address",
}


class Limits:
    """The gateway's three kinds of bucket, and which of them a request spends."""

    def __init__(
        self, settings: GatewaySettings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        size = settings.rate_limit_max_keys
        self.settings = settings
        self.buckets = {
            "principal": TokenBucket(
                settings.rate_limit_principal_per_minute, WINDOW_SECONDS, size, clock
            ),
            "ip": TokenBucket(settings.rate_limit_ip_per_minute, WINDOW_SECONDS, size, clock),
            "query_code": TokenBucket(
                settings.rate_limit_query_code_per_minute, WINDOW_SECONDS, size, clock
            ),
        }

    async def principal(self, token: str | None) -> str | None:
        """``role:sub`` of a token that verifies, else None."""
        if not token:
            return None
        try:
            if self.settings.jwt_jwks_url:  # the key set may need fetching: off the loop
                found = await asyncio.to_thread(verify_token, self.settings, token)
            else:
                found = verify_token(self.settings, token)
        except Exception:  # invalid, expired, forged, or no key: limited by address instead
            return None
        return f"{found.role}:{found.sub}"

    def spend(self, keys: list[tuple[str, str]]) -> tuple[str, Quota]:
        """Spend one token of each ``(kind, key)`` bucket, or none if one of them is empty.

        Returns the refusing kind with its quota, or the allowed quota nearest to empty.
        """
        peeked = [(kind, self.buckets[kind].peek(key)) for kind, key in keys]
        refused = [(kind, q) for kind, q in peeked if not q.allowed]
        if refused:
            return max(refused, key=lambda kq: kq[1].retry_after)
        taken = [(kind, self.buckets[kind].take(key)) for kind, key in keys]
        return min(taken, key=lambda kq: (kq[1].remaining, kq[1].limit))


def client_key(scope: Scope) -> str:
    """The client address (an IPv6 client by its /64, which one subscriber usually holds)."""
    client = scope.get("client")
    host = client[0] if client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def bearer(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else None
    return None


def has_query_code(scope: Scope) -> bool:
    query = scope.get("query_string", b"")
    if b"query_code" not in query:
        return False
    return any(k == "query_code" for k, _ in parse_qsl(query.decode("latin-1"), True))


def declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def rate_headers(quota: Quota) -> dict[str, str]:
    return {
        "RateLimit-Limit": str(quota.limit),
        "RateLimit-Remaining": str(quota.remaining),
        "RateLimit-Reset": str(quota.reset),
        "RateLimit-Policy": f"{quota.limit};w={WINDOW_SECONDS}",
    }


def too_large(scope: Scope, limit: int) -> JSONResponse:
    TOO_LARGE.inc()
    return problem(
        413,
        "content-too-large",
        "Content too large",
        f"the request body is larger than the gateway's limit of {limit} bytes; send less",
        instance=scope["path"],
        headers={"Connection": "close"},
        extensions={"max_bytes": limit},
    )


def too_many(scope: Scope, kind: str, quota: Quota) -> JSONResponse:
    RATE_LIMITED.labels(kind).inc()
    return problem(
        TooManyRequests.status,
        TooManyRequests.code,
        TooManyRequests.title,
        f"{DETAIL[kind]}: {quota.limit} per minute; retry in {quota.retry_after} s",
        instance=scope["path"],
        headers={"Retry-After": str(quota.retry_after), **rate_headers(quota)},
        extensions={"limit": kind},
    )


async def read_body(receive: Receive, limit: int) -> Message | None:
    """The whole request body as one message, or None once it passes ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return message  # the client went away: let the app see it
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}


class ProtectionMiddleware:
    """Body size first (from Content-Length, before reading), then the rate limits, then the
    streamed body size. Reads ``app.state.limits`` at each request (tests replace it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        settings: GatewaySettings = state.settings
        limit = settings.max_body_bytes
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            await too_large(scope, limit)(scope, receive, send)
            return
        quota: Quota | None = None
        if settings.rate_limit_enabled:
            limits: Limits = state.limits
            address = client_key(scope)
            who = await limits.principal(bearer(scope))
            keys = [("principal", who) if who else ("ip", address)]
            if has_query_code(scope):
                keys.append(("query_code", address))
            kind, quota = limits.spend(keys)
            if not quota.allowed:
                await too_many(scope, kind, quota)(scope, receive, send)
                return
        body = await read_body(receive, limit)
        if body is None:
            await too_large(scope, limit)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), _with_headers(send, quota))


def _replay(first: Message, receive: Receive) -> Receive:
    pending = [first]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def _with_headers(send: Send, quota: Quota | None) -> Send:
    if quota is None:
        return send

    async def sender(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in rate_headers(quota).items():
                headers.setdefault(name, value)
        await send(message)

    return sender


def install(app: FastAPI, settings: GatewaySettings) -> None:
    """Add the protection to the gateway app. Call before ``install_http_basics`` so that
    refusals (429, 413, 503) still get request ids, the access log and metrics."""
    app.state.limits = Limits(settings)
    app.state.breakers = Breakers.of(
        settings.service_urls(), settings.breaker_failures, settings.breaker_open_seconds
    )
    app.add_middleware(ProtectionMiddleware)
    if settings.cors_origins:  # outside the limits: a browser can read a 429 too
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_EXPOSED_HEADERS,
            max_age=600,
        )
