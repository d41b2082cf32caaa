"""One OpenAPI document for the public API (ARCHITECTURE §4), merged from the services' own.

``/openapi.json`` is the gateway's own operations (``/status``, ...) plus every ``/api/v1``
operation of the four services that the gateway forwards, as each service documents it:

- Built in-process from the services' routers: the same ``APIRouter`` objects their apps
  mount, with their pydantic models. Not fetched from the running services, so the document
  is the same on every replica, deterministic, and complete while a service is down. Not by
  calling the services' ``create_app`` either: that reads the service's own settings (in
  production its database URL and keys, which the gateway never holds) and loads its data.
  The service modules take seconds to import, so the document is built on its first request,
  in a worker thread, and kept.
- Only the operations the gateway forwards to that service: each service path is matched
  against the gateway's forwarding routes (``proxy.build_router``) as a request would be, and
  the route that takes it names its service (``proxy.UPSTREAM``).
- Component schemas merged by name; a name that two services define differently gets the
  service's name in front (tracking's ``Attachment`` becomes ``TrackingAttachment``).
- Security from each route's dependencies: bearer token required, optional (the empty
  requirement: a case's ``query_code`` instead), or none (the directory).
- Every error as RFC 9457 ``application/problem+json`` (``shared/errors.py``), in place of
  FastAPI's ``HTTPValidationError``.

``/docs`` (Swagger UI) and ``/redoc`` load their scripts from the gateway itself (assets of the
``fastapi-offline`` package), so they work without internet. ``/asyncapi.json`` is the AsyncAPI
document of the topics, the one ``docs/asyncapi.json`` holds (``services/asyncapi.py``).
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import threading
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute, Match

from services.gateway.proxy import PREFIX, UPSTREAM, build_router
from shared.auth import optional_principal, required_principal
from shared.settings import SERVICES

ASSETS = "/docs/assets"
SCHEMAS = "#/components/schemas/"

# The routers each service's create_app mounts (its main.py); a unit test keeps them equal.
SERVICE_ROUTERS: dict[str, tuple[str, ...]] = {
    "intake": ("intake.api:router", "intake.channels_api:router", "intake.vault:router"),
    "routing": (
        "routing.api:router",
        "routing.api:cases_router",
        "routing.directory_admin:router",
        "routing.directory_api:router",
    ),
    "tracking": (
        "tracking.api:router",
        "tracking.actions:router",
        "tracking.webhooks_api:router",
        "tracking.supervision_api:router",
        "tracking.receptions_api:router",
    ),
    "evaluation": (
        "evaluation.api:router",
        "evaluation.ratings_api:router",
        "evaluation.callbacks_api:router",
        "evaluation.analytics_api:router",
    ),
}
# FastAPI's own 422 schemas: the services answer problem+json instead.
FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
SECURITY: dict[str, list[dict[str, list[str]]]] = {
    "required": [{"bearer": []}],
    "optional": [{"bearer": []}, {}],
    "none": [],
}
QUERY_CODE_NOTE = (
    "\n\nWithout a bearer token, give the case's `query_code` (lookups are rate limited per "
    "client and per tracking number)."
)
# The gateway answers a case view from intake until tracking has recorded the case
# (proxy.case_view): that 200 is intake's view of the petition.
FALLBACKS = {
    ("get", f"{PREFIX}/cases/{{tracking_number}}"): f"{PREFIX}/petitions/{{tracking_number}}"
}

PROBLEM: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string", "description": "stable URI of the kind of problem"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string", "description": "what went wrong and what to do"},
        "instance": {"type": "string", "description": "the path that was requested"},
        "errors": {"type": "array", "items": {"$ref": SCHEMAS + "ProblemField"}},
    },
    "additionalProperties": True,  # extension members, e.g. the reason of a 409
}
PROBLEM_FIELD: dict[str, Any] = {
    "type": "object",
    "required": ["field", "message"],
    "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
    "additionalProperties": True,
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before retrying",
        "required": True,
        "schema": {"type": "string"},
    }
}
# status: (name in components/responses, description, headers)
ERRORS: dict[int, tuple[str, str, dict[str, Any]]] = {
    400: ("BadRequest", "The request cannot be read", {}),
    401: (
        "Unauthorized",
        "No bearer token (nor query code), or one that is invalid or expired",
        {"WWW-Authenticate": {"schema": {"type": "string"}}},
    ),
    403: ("Forbidden", "The token's role or region does not allow this", {}),
    404: ("NotFound", "No such resource, or none that this caller may see", {}),
    409: ("Conflict", "The resource's state does not allow this now; the problem says why", {}),
    422: ("Invalid", "A parameter or the body is invalid; `errors` names each field", {}),
    429: ("TooManyRequests", "Too many requests", _RETRY_AFTER),
    503: ("Unavailable", "A service or its database is unavailable", _RETRY_AFTER),
}


def error_responses() -> dict[str, Any]:
    return {
        name: {
            "description": description,
            **({"headers": headers} if headers else {}),
            "content": {"application/problem+json": {"schema": {"$ref": SCHEMAS + "Problem"}}},
        }
        for name, description, headers in ERRORS.values()
    }


def service_routes(service: str) -> list[APIRoute]:
    routes: list[APIRoute] = []
    for spec in SERVICE_ROUTERS[service]:
        module, _, name = spec.partition(":")
        router = getattr(importlib.import_module(module), name)
        routes += [r for r in router.routes if isinstance(r, APIRoute)]
    return routes


def auth_of(route: APIRoute) -> str:
    """``required``, ``optional`` or ``none``: whether the route reads a bearer token."""
    calls, stack = set(), [route.dependant]
    while stack:
        dependant = stack.pop()
        calls.add(dependant.call)
        stack.extend(dependant.dependencies)
    if required_principal in calls:
        return "required"
    return "optional" if optional_principal in calls else "none"


def upstream_of(routes: list[BaseRoute], method: str, path: str) -> str | None:
    """The service the gateway forwards ``method path`` to (None: not forwarded)."""
    scope = {"type": "http", "path": path, "root_path": "", "method": method.upper()}
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            extra = getattr(route, "openapi_extra", None) or {}
            return extra.get(UPSTREAM)
    return None


def _rewrite(node: Any, renames: dict[str, str]) -> Any:
    """A copy of ``node`` with references to renamed schemas pointing at the new names."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(SCHEMAS) and ref[len(SCHEMAS) :] in renames:
            return {**node, "$ref": SCHEMAS + renames[ref[len(SCHEMAS) :]]}
        return {k: _rewrite(v, renames) for k, v in node.items()}
    if isinstance(node, list):
        return [_rewrite(v, renames) for v in node]
    return node


def merge_schemas(merged: dict[str, Any], schemas: dict[str, Any], prefix: str) -> dict[str, str]:
    """Add ``schemas`` to ``merged``, sharing equal definitions; return the renames made.

    A schema is renamed when ``merged`` holds another definition under its name, also when
    it differs only by referring to a schema that was itself renamed."""
    renames: dict[str, str] = {}
    changed = True
    while changed:
        changed = False
        for name, schema in schemas.items():
            if name in merged and name not in renames and merged[name] != _rewrite(schema, renames):
                renames[name] = prefix + name
                changed = True
    for name, schema in schemas.items():
        new, value = renames.get(name, name), _rewrite(schema, renames)
        if merged.setdefault(new, value) != value:
            raise ValueError(f"two different component schemas are both named {new}")
    return renames


def _errors_for(method: str, auth: str) -> list[int]:
    codes = [400, 404, 422, 429, 503]
    if auth != "none":
        codes += [401, 403]
    if method != "get":
        codes.append(409)
    return sorted(codes)


def _operation(op: dict[str, Any], method: str, auth: str, service: str) -> dict[str, Any]:
    op = {**op, "tags": op.get("tags") or [service], "security": SECURITY[auth]}
    if auth == "optional" and any(p.get("name") == "query_code" for p in op.get("parameters", [])):
        op["description"] = op.get("description", op.get("summary", "")) + QUERY_CODE_NOTE
    responses = {code: r for code, r in op["responses"].items() if code != "422"}
    for code in _errors_for(method, auth):
        responses.setdefault(str(code), {"$ref": "#/components/responses/" + ERRORS[code][0]})
    op["responses"] = responses
    return op


def _own(doc: dict[str, Any]) -> None:
    """The gateway's own operations: problem+json for 422 (shared/errors.py answers every
    invalid request so), rate limits and unavailability."""
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            responses = op.setdefault("responses", {})
            if "422" in responses:
                responses["422"] = {"$ref": "#/components/responses/Invalid"}
            if path.startswith(PREFIX + "/"):  # composed from the services (window.py)
                op["security"] = SECURITY["required"]
                for code in _errors_for(method, "required"):
                    ref = {"$ref": "#/components/responses/" + ERRORS[code][0]}
                    responses.setdefault(str(code), ref)
            responses.setdefault("429", {"$ref": "#/components/responses/TooManyRequests"})
            if path == "/status" and "503" not in responses:  # degraded: the same report
                responses["503"] = {
                    **responses.get("200", {}),
                    "description": "Something is down: the same report, what is down named",
                    "headers": _RETRY_AFTER,
                }
            responses.setdefault("503", {"$ref": "#/components/responses/Unavailable"})


def build(app: FastAPI) -> dict[str, Any]:
    """The merged document of the gateway ``app``."""
    forwarding: list[BaseRoute] = list(build_router().routes)
    doc = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    _own(doc)
    schemas: dict[str, Any] = {"Problem": PROBLEM, "ProblemField": PROBLEM_FIELD}
    own = doc.get("components", {}).get("schemas", {})
    own = {k: v for k, v in own.items() if k not in FASTAPI_VALIDATION}
    merge_schemas(schemas, own, "Gateway")
    paths: dict[str, Any] = doc.setdefault("paths", {})
    op_ids = {op.get("operationId") for ops in paths.values() for op in ops.values()}
    for service in SERVICES:
        routes = service_routes(service)
        sdoc = get_openapi(title=service, version=app.version, routes=routes)
        auth = {(m.lower(), r.path_format): auth_of(r) for r in routes for m in r.methods}
        found = sdoc.get("components", {}).get("schemas", {})
        found = {k: v for k, v in found.items() if k not in FASTAPI_VALIDATION}
        renames = merge_schemas(schemas, found, service.capitalize())
        for path, ops in sdoc["paths"].items():
            for method, op in ops.items():
                if upstream_of(forwarding, method, path) != service:
                    continue
                op = _operation(_rewrite(op, renames), method, auth[(method, path)], service)
                if op.get("operationId") in op_ids:
                    op["operationId"] = f"{service}_{op['operationId']}"
                op_ids.add(op.get("operationId"))
                paths.setdefault(path, {})[method] = op
    for (method, path), fallback in FALLBACKS.items():
        content = paths.get(path, {}).get(method, {}).get("responses", {}).get("200", {})
        first = content.get("content", {}).get("application/json", {})
        other = paths.get(fallback, {}).get("get", {}).get("responses", {}).get("200", {})
        second = other.get("content", {}).get("application/json", {}).get("schema")
        if "schema" in first and second:
            first["schema"] = {"anyOf": [first["schema"], second]}
    components = doc.setdefault("components", {})  # the gateway's own security schemes stay
    components["schemas"] = dict(sorted(schemas.items()))
    components["responses"] = {**components.get("responses", {}), **error_responses()}
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    return doc


@functools.cache
def asyncapi_document() -> str:
    from services import asyncapi  # imports every service's handlers: only when asked

    return asyncapi.render(asyncapi.build())


def install(app: FastAPI) -> None:
    """Serve ``/openapi.json``, ``/docs``, ``/redoc`` and ``/asyncapi.json`` on ``app`` (made
    with ``openapi_url=None, docs_url=None, redoc_url=None``)."""
    lock = threading.Lock()

    def document() -> dict[str, Any]:
        with lock:
            if app.openapi_schema is None:
                app.openapi_schema = build(app)
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
    app.mount(ASSETS, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-assets")

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi_json() -> JSONResponse:
        return JSONResponse(await asyncio.to_thread(document))

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_swagger_ui_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
            # no badge from the online validator: the page calls nothing but the gateway
            swagger_ui_parameters={"validatorUrl": None, "persistAuthorization": True},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        return get_redoc_html(
            openapi_url=f"{root}/openapi.json",
            title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
            redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
            with_google_fonts=False,
        )

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi_json() -> Response:
        text = await asyncio.to_thread(asyncapi_document)
        return Response(text, media_type="application/json")
