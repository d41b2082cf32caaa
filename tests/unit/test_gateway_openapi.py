"""The gateway's one OpenAPI document, merged from the services' own; the offline docs pages;
the AsyncAPI document."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import pytest
import schemathesis
from fastapi.openapi.utils import get_openapi
from starlette.routing import Match

from services.gateway import openapi
from services.gateway.main import create_app
from services.gateway.proxy import build_router
from services.gateway.settings import GatewaySettings
from shared.settings import SERVICES

ASYNCAPI = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"
METHODS = ("get", "put", "post", "delete", "patch")


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


@asynccontextmanager
async def gateway() -> AsyncIterator[httpx.AsyncClient]:
    """The gateway with every service down (each connection refused)."""
    urls = {f"{s}_url": f"http://{s}.test:80{i}" for i, s in enumerate(SERVICES, start=1)}
    app = create_app(GatewaySettings(**urls), transport=httpx.MockTransport(refused))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c,
    ):
        yield c


@pytest.fixture(scope="module")
async def doc() -> dict[str, Any]:
    async with gateway() as c:
        response = await c.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): op
        for path, ops in doc["paths"].items()
        for method, op in ops.items()
        if method in METHODS
    }


def _ref(doc: dict[str, Any], ref: str) -> Any:
    node: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _deref(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and isinstance(node.get("$ref"), str):
        node = _ref(doc, node["$ref"])
    return node


def _inline(doc: dict[str, Any], node: Any) -> Any:
    """``node`` with every reference replaced by what it refers to."""
    node = _deref(doc, node)
    if isinstance(node, dict):
        return {k: _inline(doc, v) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(doc, v) for v in node]
    return node


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_the_document_is_valid_openapi_while_every_service_is_down(
    doc: dict[str, Any],
) -> None:
    schema = schemathesis.openapi.from_dict(doc)
    schema.validate()  # the OpenAPI 3.1 meta-schema
    assert len(list(schema.get_all_operations())) == len(operations(doc)) > 40
    for ref in _refs(doc):
        _ref(doc, ref)  # every reference resolves
    names = set(doc["components"]["schemas"])
    assert not names & {"HTTPValidationError", "ValidationError"}
    ids = [op["operationId"] for op in operations(doc).values()]
    assert len(ids) == len(set(ids))


def test_every_public_operation_of_every_service_is_documented_as_the_service_does(
    doc: dict[str, Any],
) -> None:
    """Each service's real app (its main.py) against the merged document: every /api/v1
    operation is there, with the service's own parameters and request body."""
    merged = operations(doc)
    public = {k for k in merged if k[1].startswith("/api/v1/")}
    expected: set[tuple[str, str]] = set()
    for service in SERVICES:
        app = importlib.import_module(f"{service}.main").app
        own = get_openapi(title=service, version="0", routes=app.routes)
        for (method, path), op in operations(own).items():
            if not path.startswith("/api/v1/"):
                continue
            expected.add((method, path))
            assert (method, path) in merged, f"{method.upper()} {path} ({service}) is missing"
            ours = merged[(method, path)]
            assert ours["operationId"].endswith(op["operationId"])
            assert ours.get("parameters") == op.get("parameters"), (method, path)
            if "requestBody" in op:
                body = ours["requestBody"]["content"]["application/json"]["schema"]
                theirs = op["requestBody"]["content"]["application/json"]["schema"]
                assert _inline(doc, body) == _inline(own, theirs), (method, path)
    # the gateway's own composition (services/gateway/window.py), documented by the gateway
    assert public == expected | {("post", "/api/v1/window/registrations")}


def test_every_forwarding_route_leads_to_documented_operations(doc: dict[str, Any]) -> None:
    paths = [path for _method, path in operations(doc)]
    for route in build_router().routes:
        scopes = [{"type": "http", "path": p, "root_path": "", "method": "GET"} for p in paths]
        assert any(route.matches(s)[0] is not Match.NONE for s in scopes), route.path


def test_a_schema_name_two_services_define_differently_stays_apart(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    petition = schemas["PetitionCreate"]["properties"]["attachments"]
    assert "#/components/schemas/Attachment" in _refs(petition)  # intake's
    reply = schemas["Reply"]
    assert "#/components/schemas/TrackingAttachment" in _refs(reply)  # tracking's
    assert schemas["Attachment"] != schemas["TrackingAttachment"]


def test_merging_renames_clashes_and_what_refers_to_them() -> None:
    merged = {"Item": {"type": "string"}, "Box": {"$ref": "#/components/schemas/Item"}}
    renames = openapi.merge_schemas(
        merged,
        {
            "Item": {"type": "integer"},  # clashes
            "Box": {"$ref": "#/components/schemas/Item"},  # same text, other Item
            "Same": {"type": "boolean"},
        },
        "Tracking",
    )
    assert renames == {"Item": "TrackingItem", "Box": "TrackingBox"}
    assert merged["TrackingItem"] == {"type": "integer"}
    assert merged["TrackingBox"] == {"$ref": "#/components/schemas/TrackingItem"}
    assert merged["Box"] == {"$ref": "#/components/schemas/Item"}
    assert merged["Same"] == {"type": "boolean"}


def test_security_bearer_query_code_or_none(doc: dict[str, Any]) -> None:
    ops = operations(doc)
    bearer = {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert doc["components"]["securitySchemes"]["bearer"] == bearer
    assert ops[("post", "/api/v1/petitions")]["security"] == [{"bearer": []}]
    assert ops[("get", "/api/v1/units")]["security"] == []  # the directory is public
    for key in [
        ("get", "/api/v1/cases/{tracking_number}"),
        ("get", "/api/v1/petitions/{tracking_number}"),
        ("post", "/api/v1/cases/{tracking_number}/rating"),
    ]:
        assert ops[key]["security"] == [{"bearer": []}, {}], key
        assert "query_code" in ops[key]["description"]
        assert "query_code" in [p["name"] for p in ops[key]["parameters"]]
    for key, op in ops.items():
        assert ("401" in op["responses"]) == bool(op.get("security")), key


def test_errors_are_documented_as_problem_json(doc: dict[str, Any]) -> None:
    for (method, path), op in operations(doc).items():
        responses = op["responses"]
        codes = {"422", "429", "503"} if path != "/status" else {"429", "503"}
        if path.startswith("/api/v1/"):
            codes |= {"400", "404"} | ({"409"} if method != "get" else set())
        assert codes <= set(responses), (method, path)
        for code in codes - ({"503"} if path == "/status" else set()):
            response = _deref(doc, responses[code])
            assert list(response["content"]) == ["application/problem+json"], (path, code)
        for code in ("429", "503"):
            assert _deref(doc, responses[code])["headers"]["Retry-After"]["required"]


async def test_real_errors_match_the_documented_problem(doc: dict[str, Any]) -> None:
    problem = jsonschema_rs.validator_for(
        {"$ref": "#/components/schemas/Problem", "components": doc["components"]}
    )
    async with gateway() as c:
        down = await c.get("/api/v1/units")  # routing is down
        unknown = await c.get("/api/v1/nothing-here")
    assert down.status_code == 503 and down.headers["retry-after"]
    assert unknown.status_code == 404
    for response in (down, unknown):
        assert response.headers["content-type"] == "application/problem+json"
        problem.validate(response.json())


def test_case_view_documents_intakes_answer_before_tracking_has_the_case(
    doc: dict[str, Any],
) -> None:
    view = operations(doc)[("get", "/api/v1/cases/{tracking_number}")]
    schema = view["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"$ref": "#/components/schemas/PetitionPublic"} in schema["anyOf"]


async def test_docs_pages_load_everything_from_the_gateway() -> None:
    async with gateway() as c:
        for page in ("/docs", "/redoc"):
            html = (await c.get(page)).text
            urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
            urls += re.findall(r"""(?:url: *|spec-url=)["']([^"']+)["']""", html)
            assert "/openapi.json" in urls, page
            assert len(urls) >= 3, page
            for url in urls:
                assert url.startswith("/") and not url.startswith("//"), (page, url)
                response = await c.get(url)
                assert response.status_code == 200 and response.content, (page, url)
            assert "https://" not in html and "http://" not in html, page


async def test_asyncapi_is_the_checked_in_document() -> None:
    async with gateway() as c:
        response = await c.get("/asyncapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == json.loads(ASYNCAPI.read_text(encoding="utf-8"))
