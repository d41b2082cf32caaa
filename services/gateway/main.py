"""The gateway process: ``uvicorn services.gateway.main:app`` (port 8000 in development).

It serves the public API by forwarding to the services over one shared HTTP client, answers
``GET /status`` for the whole suite, and its own ``/healthz``, ``/readyz`` and ``/metrics``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.gateway import console, open311, openapi, protection, status, window
from services.gateway.proxy import build_router
from services.gateway.settings import GatewaySettings
from shared import logging as xlog
from shared.service import install_http_basics

DESCRIPTION = (
    "The public API of Xinfang (网上信访). Errors are RFC 9457 `application/problem+json`; "
    "an unavailable service gets 503 with `Retry-After`. Authenticate with a bearer JWT, or "
    "follow one case with its `query_code`."
)


def create_app(
    settings: GatewaySettings | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The gateway app. ``transport`` replaces the network (tests only)."""
    settings = settings or GatewaySettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        xlog.configure("gateway", settings.log_level)
        app.state.http = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(
                settings.upstream_timeout_seconds,
                connect=settings.upstream_connect_timeout_seconds,
            ),
            # Idle connections are dropped before the services' keep-alive timeout (30 s):
            # reusing one the service is closing fails the request (a 503 for a sent POST)
            limits=httpx.Limits(
                max_connections=200, max_keepalive_connections=50, keepalive_expiry=15
            ),
            follow_redirects=False,
            trust_env=False,  # service URLs are internal: no proxy from the environment
        )
        try:
            yield
        finally:
            client, app.state.http = app.state.http, None
            await client.aclose()

    app = FastAPI(
        title="Xinfang API",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # services/gateway/openapi.py serves the merged document and the offline docs pages
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.http = None
    protection.install(app, settings)  # rate limits, body size, breakers, CORS
    install_http_basics(app, "gateway")

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        if request.app.state.http is None:
            return JSONResponse(
                {"status": "unready"}, status_code=503, headers={"Retry-After": "5"}
            )
        return JSONResponse({"status": "ready"})

    app.include_router(status.router)
    app.include_router(window.router)  # before the forwarding routes: its path is its own
    app.include_router(build_router())
    app.include_router(open311.build_router())  # /open311/v2 (GeoReport v2)
    console.install(app)  # the operator console at /console
    openapi.install(app)  # /openapi.json (merged from the services), /docs, /asyncapi.json
    return app


app = create_app()
