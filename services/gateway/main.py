"""The gateway process: ``uvicorn services.gateway.main:app`` (port 8000 in development).

It serves the public API by forwarding to the services over one shared HTTP client, answers
``GET /status`` for the whole suite, and its own ``/healthz``, ``/readyz`` and ``/metrics``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from intake.schemas import PetitionCreate
from services.gateway import status
from services.gateway.proxy import build_router
from services.gateway.settings import GatewaySettings
from shared import logging as xlog
from shared.service import install_http_basics

DESCRIPTION = (
    "The public API of Xinfang (网上信访). Errors are RFC 9457 `application/problem+json`; "
    "an unavailable service gets 503 with `Retry-After`. Authenticate with a bearer JWT, or "
    "follow one case with its `query_code`."
)


def _petition_schemas() -> dict[str, Any]:
    """``PetitionCreate`` and the models it nests, as OpenAPI component schemas."""
    schema = PetitionCreate.model_json_schema(ref_template="#/components/schemas/{model}")
    nested: dict[str, Any] = schema.pop("$defs", {})
    return {**nested, "PetitionCreate": schema}


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = base()
            components = schema.setdefault("components", {})
            schemas = components.setdefault("schemas", {})
            for name, value in _petition_schemas().items():
                schemas.setdefault(name, value)
            components.setdefault("securitySchemes", {})["bearer"] = {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
            }
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


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
            timeout=httpx.Timeout(settings.upstream_timeout_seconds),
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
            follow_redirects=False,
            trust_env=False,  # service URLs are internal: no proxy from the environment
        )
        try:
            yield
        finally:
            client, app.state.http = app.state.http, None
            await client.aclose()

    app = FastAPI(title="Xinfang API", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.http = None
    install_http_basics(app, "gateway")

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        if request.app.state.http is None:
            return JSONResponse(
                {"status": "unready"}, status_code=503, headers={"Retry-After": "5"}
            )
        return JSONResponse({"status": "ready"})

    app.include_router(status.router)
    app.include_router(build_router())
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app


app = create_app()
