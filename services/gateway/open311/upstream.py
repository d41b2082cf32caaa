"""Calls to the services on behalf of an Open311 client, through the gateway's one ``send``
(``services/gateway/proxy.py``: its timeouts, breakers and 503s), and what their answers mean.

``send`` forwards a client's request; here the request to forward is built (method, path,
query, the client's upstream token, a JSON body) as a Starlette request on the same app.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import Request

from services.gateway.open311.formats import Open311Error
from services.gateway.proxy import send

log = logging.getLogger(__name__)


async def call(
    request: Request,
    service: str,
    method: str,
    path: str,
    token: str,
    *,
    query: list[tuple[str, str]] | None = None,
    body: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> httpx.Response:
    content = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
    headers = [(b"authorization", f"Bearer {token}".encode()), (b"accept", b"application/json")]
    if body is not None:
        headers.append((b"content-type", b"application/json"))
    if idempotency_key:
        headers.append((b"idempotency-key", idempotency_key.encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": request.url.scheme,
        "server": request.scope.get("server"),
        "client": request.scope.get("client"),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": urlencode(query or []).encode(),
        "headers": headers,
        "app": request.app,
    }
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if delivered:
            return {"type": "http.disconnect"}
        delivered = True
        return {"type": "http.request", "body": content, "more_body": False}

    return await send(Request(scope, receive), service)


def problem_of(response: httpx.Response) -> dict[str, Any]:
    try:
        found = response.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def check(response: httpx.Response, service: str) -> None:
    """Raise the Open311 error for an answer that is not a success: the service down (503 with
    Retry-After), too many requests (429), or the gateway's own credential refused (500)."""
    status = response.status_code
    if status < 400:
        return
    detail = str(problem_of(response).get("detail") or f"the {service} service answered {status}")
    retry = {"Retry-After": response.headers.get("retry-after", "5")}
    if status == 429:
        raise Open311Error(429, detail, retry)
    if status >= 500:
        raise Open311Error(503, f"the {service} service is unavailable; retry later", retry)
    if status in (401, 403):
        log.error("open311 credential refused", extra={"upstream": service, "status": status})
        raise Open311Error(
            500,
            f"the {service} service refused the gateway's credential for this client; "
            "tell the platform's operators",
        )
    raise Open311Error(400, detail)
