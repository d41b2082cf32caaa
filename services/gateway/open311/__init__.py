"""Open311 GeoReport v2 at ``/open311/v2/`` (README "Open311 GeoReport v2").

The routes are left out of the gateway's OpenAPI document: they follow the GeoReport v2
specification (form-encoded POST, ``.json``/``.xml`` suffixes, the spec's error format), not
the problem+json conventions that document promises for every operation it lists.
"""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.open311 import api

_ROUTES: list[tuple[str, str, api.Handler]] = [
    ("/discovery.{fmt}", "GET", api.discovery),
    ("/services.{fmt}", "GET", api.services),
    ("/services/{name}", "GET", api.definition),
    ("/requests.{fmt}", "POST", api.create),
    ("/tokens/{name}", "GET", api.token),
    ("/requests.{fmt}", "GET", api.request_list),
    ("/requests/{name}", "GET", api.request_one),
]


def build_router() -> APIRouter:
    router = APIRouter(prefix=api.PREFIX)
    for path, method, handler in _ROUTES:
        router.add_api_route(path, api.endpoint(handler), methods=[method], include_in_schema=False)
    return router
