"""The gateway against in-memory upstreams (httpx.MockTransport): no network, no broker."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
import pytest

from services.gateway import status as gw_status
from services.gateway.main import create_app
from services.gateway.settings import GatewaySettings
from services.gateway.status import Probe, service_report, summarize

SERVICES = ("intake", "routing", "tracking", "evaluation")
TN = "110107-261128-00123-X"
Handler = Callable[[httpx.Request], httpx.Response]


class Upstreams:
    """Fake services keyed by host name; a service without a handler refuses connections."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.seen: list[tuple[str, httpx.Request]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        service = request.url.host.split(".")[0]
        self.seen.append((service, request))
        handler = self.handlers.get(service)
        if handler is None:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return handler(request)


def settings() -> GatewaySettings:
    urls = {f"{s}_url": f"http://{s}.test:80{i}" for i, s in enumerate(SERVICES, start=1)}
    return GatewaySettings(**urls, upstream_timeout_seconds=2, status_timeout_seconds=1)


@asynccontextmanager
async def gateway(upstreams: Upstreams) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings(), transport=httpx.MockTransport(upstreams))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c,
    ):
        yield c


def echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"path": request.url.path, "query": request.url.query.decode()})


async def test_petition_post_forwards_token_exact_bytes_and_ids() -> None:
    up = Upstreams()
    up.handlers["intake"] = lambda r: httpx.Response(
        201,
        json={"tracking_number": "110107261128001230"},
        headers={"Location": f"/api/v1/cases/{TN}", "Idempotent-Replayed": "true", "X-Debug": "1"},
    )
    raw = b'{ "kind" : "grievance",\n  "title": "\xe8\xb7\xaf\xe7\x81\xaf" }'
    async with gateway(up) as c:
        r = await c.post(
            "/api/v1/petitions?dry=1",
            content=raw,
            headers={
                "Authorization": "Bearer abc.def.ghi",
                "Idempotency-Key": "k-1",
                "Content-Type": "application/json",
                "X-Request-ID": "req-42",
                "Cookie": "secret=1",
            },
        )
    assert r.status_code == 201
    assert r.json() == {"tracking_number": "110107261128001230"}
    assert r.headers["location"] == f"/api/v1/cases/{TN}"
    assert r.headers["idempotent-replayed"] == "true"
    assert r.headers["content-type"] == "application/json"
    assert "x-debug" not in r.headers
    assert r.headers["x-request-id"] == "req-42"
    [(service, sent)] = up.seen
    assert service == "intake"
    assert sent.method == "POST"
    assert sent.url.path == "/api/v1/petitions" and sent.url.query == b"dry=1"
    assert sent.content == raw
    assert sent.headers["authorization"] == "Bearer abc.def.ghi"
    assert sent.headers["idempotency-key"] == "k-1"
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["x-request-id"] == "req-42"
    assert sent.headers["x-correlation-id"] == "req-42"
    assert sent.headers["x-forwarded-for"] == "127.0.0.1"
    assert "cookie" not in sent.headers


async def test_generated_request_id_flows_upstream() -> None:
    up = Upstreams()
    up.handlers["tracking"] = echo
    async with gateway(up) as c:
        r = await c.get("/api/v1/me/cases", headers={"X-Correlation-ID": "corr-7"})
    sent = up.seen[0][1]
    assert sent.headers["x-request-id"] == r.headers["x-request-id"]
    assert sent.headers["x-correlation-id"] == "corr-7"


@pytest.mark.parametrize(
    ("method", "path", "service"),
    [
        ("GET", f"/api/v1/petitions/{TN}", "intake"),
        ("GET", "/api/v1/me/cases", "tracking"),
        ("GET", "/api/v1/units/U-1/cases", "tracking"),
        ("POST", f"/api/v1/cases/{TN}/accept", "tracking"),
        ("POST", f"/api/v1/cases/{TN}/rating", "evaluation"),
        ("GET", f"/api/v1/cases/{TN}/rating", "evaluation"),
        ("GET", "/api/v1/units/U-1/callbacks", "evaluation"),
        ("POST", "/api/v1/callbacks/cb-1/done", "evaluation"),
        ("GET", "/api/v1/units/U-1/webhooks", "tracking"),
        ("GET", "/api/v1/units", "routing"),
        ("GET", "/api/v1/units/U-1", "routing"),
        ("GET", "/api/v1/regions/110107", "routing"),
        ("GET", "/api/v1/routing/decisions/abc", "routing"),
        ("GET", "/api/v1/analytics/overview", "evaluation"),
    ],
)
async def test_routes_reach_their_service(method: str, path: str, service: str) -> None:
    up = Upstreams()
    up.handlers[service] = echo
    async with gateway(up) as c:
        r = await c.request(method, path + "?limit=5")
    assert r.status_code == 200, r.text
    assert r.json() == {"path": path, "query": "limit=5"}
    assert [s for s, _ in up.seen] == [service]


async def test_case_view_from_tracking_when_it_knows_the_case() -> None:
    up = Upstreams()
    up.handlers["tracking"] = lambda r: httpx.Response(200, json={"status": "routed"})
    async with gateway(up) as c:
        r = await c.get(f"/api/v1/cases/{TN}")
    assert r.json() == {"status": "routed"}
    assert [s for s, _ in up.seen] == ["tracking"]


async def test_case_view_falls_back_to_intake_before_tracking_records_it() -> None:
    up = Upstreams()
    up.handlers["tracking"] = lambda r: httpx.Response(404, json={"detail": "tracking"})
    up.handlers["intake"] = lambda r: httpx.Response(200, json={"status": "received"})
    async with gateway(up) as c:
        r = await c.get(
            f"/api/v1/cases/{TN}?query_code=ABCD2345", headers={"Authorization": "Bearer t"}
        )
    assert r.status_code == 200
    assert r.json() == {"status": "received"}
    assert [s for s, _ in up.seen] == ["tracking", "intake"]
    sent = up.seen[1][1]
    assert sent.url.path == f"/api/v1/petitions/{TN}"
    assert sent.url.query == b"query_code=ABCD2345"
    assert sent.headers["authorization"] == "Bearer t"


@pytest.mark.parametrize(("intake_status", "expected"), [(404, "tracking"), (401, "intake")])
async def test_case_view_fallback_answers(intake_status: int, expected: str) -> None:
    up = Upstreams()
    up.handlers["tracking"] = lambda r: httpx.Response(404, json={"from": "tracking"})
    up.handlers["intake"] = lambda r: httpx.Response(intake_status, json={"from": "intake"})
    async with gateway(up) as c:
        r = await c.get(f"/api/v1/cases/{TN}")
    assert r.json() == {"from": expected}
    assert r.status_code == (404 if expected == "tracking" else intake_status)


async def test_unreachable_service_is_503_problem_with_retry_after() -> None:
    async with gateway(Upstreams()) as c:
        r = await c.post("/api/v1/petitions", content=b"{}")
    assert r.status_code == 503
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["retry-after"] == "5"
    body = r.json()
    assert body["type"].endswith("/unavailable")
    assert "intake" in body["detail"]


async def test_upstream_timeout_is_503() -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    up = Upstreams()
    up.handlers["evaluation"] = slow
    async with gateway(up) as c:
        r = await c.get("/api/v1/analytics/overview")
    assert r.status_code == 503
    assert r.headers["retry-after"] == "5"
    assert "evaluation" in r.json()["detail"] and "did not answer" in r.json()["detail"]


async def test_readyz_health_and_openapi() -> None:
    async with gateway(Upstreams()) as c:
        assert (await c.get("/readyz")).json() == {"status": "ready"}
        assert (await c.get("/healthz")).json()["service"] == "gateway"
        doc = (await c.get("/openapi.json")).json()
    assert doc["info"]["title"] == "Xinfang API"
    post = doc["paths"]["/api/v1/petitions"]["post"]
    ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/PetitionCreate"
    assert {"PetitionCreate", "Person", "Location"} <= set(doc["components"]["schemas"])
    assert post["summary"]
    assert "/api/v1/cases/{tracking_number}" in doc["paths"]
    assert "/status" in doc["paths"]


UP = Probe(200, {"status": "ready", "database": "up"})
INTERNAL = Probe(200, {"outbox_backlog": 3, "consumer": {"lag": 9, "dead_lettered": 2}})
NOW = datetime(2026, 11, 28, tzinfo=UTC)


def test_service_report_up_carries_backlog_and_consumer() -> None:
    report = service_report("http://x", UP, INTERNAL)
    assert report["status"] == "up" and report["database"] == "up"
    assert report["outbox_backlog"] == 3
    assert report["consumer"] == {"lag": 9, "dead_lettered": 2}
    assert report["error"] is None


def test_service_report_down() -> None:
    unreachable = service_report("http://x", Probe(error="unreachable"), Probe(error="x"))
    assert unreachable["status"] == "down" and unreachable["database"] == "unknown"
    assert unreachable["error"] == "unreachable"
    db_down = service_report("http://x", Probe(503, {"database": "down"}), INTERNAL)
    assert db_down["status"] == "down" and db_down["database"] == "down"


def test_summarize_ok_only_when_everything_is_up() -> None:
    up = {s: service_report("http://x", UP, INTERNAL) for s in SERVICES}
    code, body = summarize(up, True, "b:9092", NOW)
    assert (code, body["status"]) == (200, "ok")  # lag and dead letters do not gate
    assert body["broker"] == {"status": "up", "bootstrap_servers": "b:9092"}
    assert body["gateway"] == {"status": "up"}
    assert body["checked_at"] == NOW.isoformat()
    assert summarize(up, False, "b:9092", NOW)[0] == 503
    one_down = {**up, "routing": service_report("http://x", Probe(error="refused"), Probe())}
    code, body = summarize(one_down, True, "b:9092", NOW)
    assert (code, body["status"]) == (503, "degraded")


async def test_status_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    async def broker_up(settings: GatewaySettings) -> bool:
        return True

    monkeypatch.setattr(gw_status, "broker_up", broker_up)

    def service(name: str) -> Handler:
        def answer(request: httpx.Request) -> httpx.Response:
            if request.url.path == "/readyz":
                return httpx.Response(200, json=UP.body)
            return httpx.Response(200, json={"service": name, **INTERNAL.body})

        return answer

    up = Upstreams()
    up.handlers = {s: service(s) for s in SERVICES}
    async with gateway(up) as c:
        ok = await c.get("/status")
        del up.handlers["intake"]
        degraded = await c.get("/status")
    assert ok.status_code == 200 and ok.json()["status"] == "ok"
    assert "retry-after" not in ok.headers
    assert ok.json()["services"]["tracking"]["consumer"]["dead_lettered"] == 2
    assert degraded.status_code == 503 and degraded.headers["retry-after"] == "5"
    intake = degraded.json()["services"]["intake"]
    assert intake["status"] == "down" and intake["database"] == "unknown"
    assert intake["url"] == "http://intake.test:801"
    assert json.loads(degraded.text)["services"]["routing"]["status"] == "up"
