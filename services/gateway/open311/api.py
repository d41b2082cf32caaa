"""Open311 GeoReport v2 at ``/open311/v2/`` (README "Open311 GeoReport v2").

Discovery, the service list and definitions are public. ``POST requests`` needs an API key
and answers a token; ``tokens/{token}`` gives the request id (the tracking number) once
tracking has opened the case. Reading requests needs the API key too, unlike a city's public
tracker: petitions are confidential (PROCEDURE §9), so a client sees only the requests
submitted with its own keys, as their petitioner sees them, and nothing of the petitioner.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request, Response

from services.gateway.open311 import access, catalog, mapping
from services.gateway.open311.formats import Open311Error, error_response, render, split_format
from services.gateway.open311.upstream import call, check, problem_of
from services.gateway.settings import GatewaySettings
from shared import tracking_number as numbers
from shared.errors import AppError
from shared.regions import RegionDirectory

PREFIX = "/open311/v2"
Handler = Callable[[Request, str, str], Awaitable[Response]]


def _settings(request: Request) -> GatewaySettings:
    return request.app.state.settings  # type: ignore[no-any-return]


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The format from the path (``.json``/``.xml``); every error in the spec's format."""

    async def run(request: Request) -> Response:
        fmt = "json"
        try:
            name = request.path_params.get("name") or "." + request.path_params["fmt"]
            stem, fmt = split_format(name)
            return await handler(request, fmt, stem)
        except Open311Error as error:
            return error_response(fmt, error)
        except AppError as error:  # a service down, or its breaker open (proxy.send)
            return error_response(fmt, Open311Error(error.status, error.detail, error.headers))

    return run


async def discovery(request: Request, fmt: str, _: str) -> Response:
    settings = _settings(request)
    entry = {
        "specification": catalog.SPECIFICATION,
        "url": str(request.base_url).rstrip("/") + PREFIX,
        "changeset": catalog.CHANGESET,
        "type": "production" if settings.env == "production" else "test",
        "formats": ["text/xml", "application/json"],
    }
    document = {
        "changeset": catalog.CHANGESET,
        "contact": settings.open311_contact,
        "key_service": settings.open311_key_service,
        "endpoints": [entry],
    }
    return render(fmt, "discovery", document)


async def services(request: Request, fmt: str, _: str) -> Response:
    return render(fmt, "services", catalog.service_list())


async def definition(request: Request, fmt: str, code: str) -> Response:
    service = mapping.service_of(code)
    return render(fmt, "service_definition", catalog.definition(service))


async def create(request: Request, fmt: str, _: str) -> Response:
    if "multipart/" in request.headers.get("content-type", ""):
        raise Open311Error(400, "send the request as application/x-www-form-urlencoded")
    try:
        form = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as bad:
        raise Open311Error(400, "the request body must be UTF-8") from bad
    settings = _settings(request)
    api_key = access.form_key(request, form)
    client = access.client_of(settings, api_key, "create_request")
    _, petition = mapping.petition_from_form(form, client)
    # The same request sent again (a client's retry) is the same petition, never a second one
    fingerprint = json.dumps([client, petition], ensure_ascii=False, sort_keys=True)
    answer = await call(
        request,
        "intake",
        "POST",
        "/api/v1/petitions",
        access.upstream_token(settings, client, "service"),
        body=petition,
        idempotency_key="open311-" + hashlib.sha256(fingerprint.encode()).hexdigest()[:40],
    )
    if answer.status_code in (400, 409, 422):
        raise Open311Error(400, mapping.errors_from_problem(problem_of(answer)))
    check(answer, "intake")
    number = answer.json()["tracking_number"]
    notice = f"已收到，将转送有权处理的机关；是否受理将在{settings.acceptance_days}日内告知"
    token = access.make_token(api_key or "", client, number)
    return render(fmt, "service_requests", [{"token": token, "service_notice": notice}], 201)


async def token(request: Request, fmt: str, value: str) -> Response:
    settings = _settings(request)
    client, number = access.read_token(settings, value)
    read = access.upstream_token(settings, client, "petitioner")
    answer = await call(request, "tracking", "GET", f"/api/v1/cases/{number}", read)
    if answer.status_code != 404:
        check(answer, "tracking")
    ready = answer.status_code == 200
    document = [{"service_request_id": number if ready else None, "token": value}]
    return render(fmt, "service_requests", document)


class Reader:
    """Reads a client's requests, remembering unit names and places within one answer."""

    def __init__(self, request: Request, client: str) -> None:
        self.request, self.client = request, client
        self.token = access.upstream_token(_settings(request), client, "petitioner")
        self.units: dict[str, str | None] = {}

    async def one(self, number: str) -> dict[str, Any] | None:
        number = numbers.normalize(number)
        if not numbers.is_valid(number):
            return None
        answer = await call(self.request, "tracking", "GET", f"/api/v1/cases/{number}", self.token)
        if answer.status_code == 404:  # not yet a case: intake's view, or not this client's
            path = f"/api/v1/petitions/{number}"
            answer = await call(self.request, "intake", "GET", path, self.token)
            if answer.status_code == 404:
                return None
            check(answer, "intake")
        check(answer, "tracking")
        view = answer.json()
        unit = (view.get("unit") or {}).get("id")
        return mapping.request_from_case(view, await self.unit_name(unit), place(view))

    async def unit_name(self, unit_id: str | None) -> str | None:
        if not unit_id:
            return None
        if unit_id not in self.units:
            path = f"/api/v1/units/{unit_id}"
            answer = await call(self.request, "routing", "GET", path, self.token)
            if answer.status_code != 404:
                check(answer, "routing")
            self.units[unit_id] = answer.json().get("name") if answer.status_code == 200 else None
        return self.units[unit_id]

    async def many(
        self, numbers_: list[str], limit: int, codes: set[str] | None = None
    ) -> list[dict[str, Any]]:
        """The requests among ``numbers_`` (of ``codes``), in order, at most ``limit``."""
        found: list[dict[str, Any]] = []
        for i in range(0, len(numbers_), 8):  # a few at a time: one client, many cases
            batch = await asyncio.gather(*(self.one(n) for n in numbers_[i : i + 8]))
            found += [r for r in batch if r and (codes is None or r["service_code"] in codes)]
            if len(found) >= limit:
                break
        return found[:limit]


def place(view: dict[str, Any]) -> str | None:
    """The region the petition was placed in, by name (北京市石景山区鲁谷街道)."""
    directory = RegionDirectory.default()
    try:
        region = directory.check(str(view.get("region_code")))
    except (LookupError, ValueError):
        return None
    names: list[str] = []
    for r in [*directory.ancestors(region.code), region]:
        if r.name not in names:
            names.append(r.name)
    return "".join(names)


async def request_one(request: Request, fmt: str, number: str) -> Response:
    key = request.query_params.get("api_key")
    client = access.client_of(_settings(request), key, "get_service_request")
    found = await Reader(request, client).one(number)
    if found is None:
        raise Open311Error(404, f"no request {number} was submitted with this api_key")
    return render(fmt, "service_requests", [found])


async def request_list(request: Request, fmt: str, _: str) -> Response:
    settings, query = _settings(request), request.query_params
    client = access.client_of(settings, query.get("api_key"), "get_service_requests")
    reader, limit = Reader(request, client), settings.open311_max_requests
    ids = [i.strip() for i in (query.get("service_request_id") or "").split(",") if i.strip()]
    if ids:  # "This overrides all other arguments"
        return render(fmt, "service_requests", await reader.many(ids[:limit], limit))
    wanted = _listed(query.get("status"), {"open", "closed"}, "status")
    codes = _listed(query.get("service_code"), set(catalog.SERVICES), "service_code")
    lo, hi = mapping.date_range(query.get("start_date"), query.get("end_date"), datetime.now(UTC))
    statuses: set[str] = set()
    if wanted != {"open", "closed"}:  # one of them: tracking filters by its statuses
        statuses = mapping.OPEN if "open" in wanted else mapping.CLOSED
    items = await _owned(request, reader.token, sorted(statuses))
    inside = [i for i in items if lo <= datetime.fromisoformat(i["received_at"]) <= hi]
    inside.sort(key=lambda i: datetime.fromisoformat(i["received_at"]), reverse=True)
    found = await reader.many([i["tracking_number"] for i in inside], limit, codes)
    return render(fmt, "service_requests", found)


def _listed(value: str | None, allowed: set[str], name: str) -> set[str]:
    """A comma-separated filter; all of ``allowed`` when not given."""
    given = {v.strip() for v in (value or "").split(",") if v.strip()}
    if unknown := sorted(given - allowed):
        raise Open311Error(400, f"unknown {name}: {', '.join(unknown)}")
    return given or allowed


async def _owned(request: Request, token: str, statuses: list[str]) -> list[dict[str, Any]]:
    """Every case of the client (tracking's list of the owner's cases, page by page)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = [("limit", "200"), *(("status", s) for s in statuses)]
        query += [("cursor", cursor)] if cursor else []
        answer = await call(request, "tracking", "GET", "/api/v1/me/cases", token, query=query)
        check(answer, "tracking")
        page = answer.json()
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items
