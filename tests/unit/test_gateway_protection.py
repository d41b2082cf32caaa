"""Gateway protection: the token bucket and the circuit breaker on a fake clock, and the
gateway app (rate limits, body size, breakers, CORS) against in-memory upstreams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from services.gateway import status as gw_status
from services.gateway.breaker import Breakers, CircuitBreaker, CircuitOpen
from services.gateway.main import create_app
from services.gateway.protection import Limits, client_key
from services.gateway.settings import GatewaySettings
from shared.auth import mint_token
from shared.ratelimit import TokenBucket
from shared.settings import CommonSettings
from tests.unit.test_gateway import SERVICES, Upstreams, echo


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


# -- the token bucket --


def test_bucket_allows_its_limit_then_refuses_until_a_token_refills() -> None:
    clock = Clock()
    bucket = TokenBucket(3, 60, clock=clock)
    got = [bucket.take("a") for _ in range(3)]
    assert [q.allowed for q in got] == [True, True, True]
    assert [q.remaining for q in got] == [2, 1, 0]
    assert got[-1].reset == 60  # seconds until the bucket is full again
    refused = bucket.take("a")
    assert not refused.allowed and refused.remaining == 0
    assert refused.retry_after == 20  # one token every 60/3 s
    assert bucket.take("b").allowed  # another key has its own bucket
    clock.advance(19)
    assert not bucket.take("a").allowed
    clock.advance(1)
    assert bucket.take("a").allowed
    clock.advance(600)
    assert bucket.peek("a").remaining == 2  # refills up to the limit, never past it


def test_peek_spends_nothing_and_a_refusal_spends_nothing() -> None:
    clock = Clock()
    bucket = TokenBucket(1, 60, clock=clock)
    assert bucket.peek("a").allowed and bucket.peek("a").allowed
    assert bucket.take("a").allowed
    for _ in range(5):
        assert not bucket.take("a").allowed
    clock.advance(60)
    assert bucket.take("a").allowed


def test_bucket_memory_is_bounded_forgetting_the_least_recently_seen() -> None:
    bucket = TokenBucket(1, 60, max_keys=3, clock=Clock())
    for key in ("a", "b", "c"):
        assert bucket.take(key).allowed
    assert not bucket.take("a").allowed  # "a" is now the most recently seen
    assert bucket.take("d").allowed  # a fourth key: "b" is forgotten
    assert len(bucket) == 3
    assert not bucket.take("a").allowed
    assert bucket.take("b").allowed  # forgotten: a full bucket again


def test_client_key_is_the_address_and_an_ipv6_client_its_64() -> None:
    assert client_key({"client": ("203.0.113.9", 5000)}) == "203.0.113.9"
    assert client_key({"client": ("2001:db8:1:2:aaaa::1", 1)}) == "2001:db8:1:2::/64"
    assert client_key({"client": ("2001:db8:1:2:bbbb::7", 1)}) == "2001:db8:1:2::/64"
    assert client_key({"client": ("::ffff:198.51.100.4", 1)}) == "198.51.100.4"
    assert client_key({"client": None}) == "unknown"


# -- the circuit breaker --


def breaker_state(service: str) -> float | None:
    return REGISTRY.get_sample_value("xinfang_gateway_breaker_state", {"service": service})


def test_breaker_opens_after_consecutive_failures_only() -> None:
    clock = Clock()
    b = CircuitBreaker("unit-a", failures=3, open_seconds=30, clock=clock)
    b.admit()
    assert b.failed() is None and b.failed() is None
    b.record(200)  # a success in between starts the count again
    assert b.failed() is None and b.failed() is None
    assert b.state == "closed"
    assert b.failed() == 30  # the third in a row opens it
    assert b.state == "open" and breaker_state("unit-a") == 2
    clock.advance(12.5)
    with pytest.raises(CircuitOpen) as refused:
        b.admit()
    assert refused.value.status == 503
    assert refused.value.headers["Retry-After"] == "18"  # what is left of the 30 s
    assert refused.value.extensions == {"service": "unit-a", "circuit": "open"}
    assert "unit-a" in refused.value.detail


def test_half_open_lets_one_probe_through_and_its_success_closes() -> None:
    clock = Clock()
    b = CircuitBreaker("unit-b", failures=1, open_seconds=10, clock=clock)
    b.failed()
    clock.advance(10)
    assert b.state == "half_open" and breaker_state("unit-b") == 1
    b.admit()  # the probe
    with pytest.raises(CircuitOpen) as second:
        b.admit()
    assert second.value.headers["Retry-After"] == "1"
    b.record(404)  # the service answered: it is up
    assert b.state == "closed" and breaker_state("unit-b") == 0
    b.admit()
    b.admit()


def test_a_failed_probe_opens_for_the_full_time_again() -> None:
    clock = Clock()
    b = CircuitBreaker("unit-c", failures=2, open_seconds=10, clock=clock)
    b.failed(), b.failed()
    clock.advance(11)
    b.admit()
    assert b.failed() == 10  # one failure is enough in half-open
    assert b.snapshot() == {"state": "open", "consecutive_failures": 3, "retry_after": 10}


def test_an_abandoned_probe_frees_the_slot_and_503s_count_as_failures() -> None:
    clock = Clock()
    b = CircuitBreaker("unit-d", failures=2, open_seconds=5, clock=clock)
    b.record(503)
    b.record(502)
    assert b.state == "open"
    clock.advance(5)
    b.admit()
    b.abandoned()  # the client went away before the service answered
    b.admit()  # so another request may probe
    b.record(500)  # a 500 is an answer: the service is up
    assert b.state == "closed"


# -- the gateway app --

ROUTING_PATH = "/api/v1/regions/110107"
EVAL_PATH = "/api/v1/analytics/overview"


def gateway_settings(**over: Any) -> GatewaySettings:
    urls = {f"{s}_url": f"http://{s}.test:80{i}" for i, s in enumerate(SERVICES, start=1)}
    return GatewaySettings(
        **{**urls, "upstream_timeout_seconds": 2, "status_timeout_seconds": 1, **over}
    )


@asynccontextmanager
async def gateway(
    upstreams: Upstreams, clock: Clock | None = None, **over: Any
) -> AsyncIterator[httpx.AsyncClient]:
    settings = gateway_settings(**over)
    app = create_app(settings, transport=httpx.MockTransport(upstreams))
    if clock is not None:  # the same limits and breakers, on a clock that stands still
        app.state.limits = Limits(settings, clock=clock)
        app.state.breakers = Breakers.of(
            settings.service_urls(), settings.breaker_failures, settings.breaker_open_seconds, clock
        )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c,
    ):
        yield c


def bearer(sub: str, settings: CommonSettings | None = None, ttl: int = 3600) -> dict[str, str]:
    token = mint_token(settings or CommonSettings(), role="petitioner", sub=sub, ttl_seconds=ttl)
    return {"Authorization": f"Bearer {token}"}


def assert_problem(r: httpx.Response, status: int, kind: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"].endswith("/" + kind) and body["status"] == status
    return body


async def test_anonymous_requests_are_limited_per_address_with_ratelimit_headers() -> None:
    up = Upstreams()
    up.handlers["routing"] = echo
    async with gateway(up, Clock(), rate_limit_ip_per_minute=3) as c:
        answers = [await c.get(ROUTING_PATH) for _ in range(3)]
        refused = await c.get(ROUTING_PATH)
        exempt = [await c.get(p) for p in ("/healthz", "/readyz", "/metrics")]
    assert [r.status_code for r in answers] == [200, 200, 200]
    assert [r.headers["ratelimit-remaining"] for r in answers] == ["2", "1", "0"]
    assert answers[0].headers["ratelimit-limit"] == "3"
    assert answers[0].headers["ratelimit-policy"] == "3;w=60"
    assert answers[2].headers["ratelimit-reset"] == "60"
    body = assert_problem(refused, 429, "rate-limited")
    assert refused.headers["retry-after"] == "20"
    assert refused.headers["ratelimit-remaining"] == "0"
    assert body["limit"] == "ip" and "3 per minute" in body["detail"]
    assert refused.headers["x-request-id"]  # refusals still carry the request id
    assert len(up.seen) == 3  # the refused request never reached the service
    assert [r.status_code for r in exempt] == [200, 200, 200]
    assert all("ratelimit-limit" not in r.headers for r in exempt)
    metrics = exempt[2].text
    assert 'xinfang_gateway_rate_limited_total{limit="ip"}' in metrics


async def test_principal_limit_follows_the_verified_token() -> None:
    up = Upstreams()
    up.handlers["tracking"] = echo
    async with gateway(
        up, Clock(), rate_limit_principal_per_minute=2, rate_limit_ip_per_minute=100
    ) as c:
        alice = [await c.get("/api/v1/me/cases", headers=bearer("alice")) for _ in range(3)]
        bob = await c.get("/api/v1/me/cases", headers=bearer("bob"))
        alice_again = await c.get("/api/v1/me/cases", headers=bearer("alice", ttl=7200))
        anonymous = await c.get("/api/v1/me/cases")
    assert [r.status_code for r in alice] == [200, 200, 429]
    assert assert_problem(alice[2], 429, "rate-limited")["limit"] == "principal"
    assert "account" in alice[2].json()["detail"]
    assert bob.status_code == 200 and bob.headers["ratelimit-limit"] == "2"
    assert alice_again.status_code == 429  # another token of the same subject: same bucket
    assert anonymous.status_code == 200 and anonymous.headers["ratelimit-limit"] == "100"


async def test_a_forged_token_spends_only_the_bucket_of_its_address() -> None:
    up = Upstreams()
    up.handlers["tracking"] = echo
    forger = CommonSettings(jwt_secret="not-the-gateway-secret-but-long-enough-0123456789")
    forged = bearer("victim", settings=forger)
    async with gateway(
        up, Clock(), rate_limit_principal_per_minute=5, rate_limit_ip_per_minute=3
    ) as c:
        spent = [await c.get("/api/v1/me/cases", headers=forged) for _ in range(4)]
        victim = await c.get("/api/v1/me/cases", headers=bearer("victim"))
    assert [r.status_code for r in spent] == [200, 200, 200, 429]
    assert spent[3].json()["limit"] == "ip"
    assert victim.status_code == 200
    assert victim.headers["ratelimit-remaining"] == "4"  # the victim's bucket is untouched


async def test_query_code_lookups_have_a_much_stricter_limit_per_address() -> None:
    up = Upstreams()
    up.handlers["evaluation"] = echo
    up.handlers["routing"] = echo
    path = "/api/v1/cases/110107-261128-00123-X/rating"
    async with gateway(
        up, Clock(), rate_limit_query_code_per_minute=2, rate_limit_ip_per_minute=50
    ) as c:
        lookups = [await c.get(path, params={"query_code": "ABCD2345"}) for _ in range(3)]
        other = await c.get(ROUTING_PATH)
    assert [r.status_code for r in lookups] == [200, 200, 429]
    assert lookups[1].headers["ratelimit-limit"] == "2"  # the bucket nearest to empty
    body = assert_problem(lookups[2], 429, "rate-limited")
    assert body["limit"] == "query_code" and lookups[2].headers["retry-after"] == "30"
    assert other.status_code == 200 and other.headers["ratelimit-remaining"] == "47"


async def test_limits_can_be_switched_off() -> None:
    up = Upstreams()
    up.handlers["routing"] = echo
    async with gateway(up, Clock(), rate_limit_enabled=False, rate_limit_ip_per_minute=1) as c:
        answers = [await c.get(ROUTING_PATH) for _ in range(5)]
    assert [r.status_code for r in answers] == [200] * 5
    assert "ratelimit-limit" not in answers[0].headers


async def test_body_over_the_limit_is_413_by_declared_length_and_by_streamed_size() -> None:
    up = Upstreams()
    up.handlers["intake"] = lambda r: httpx.Response(201, json={"size": len(r.content)})

    async def chunks(total: int) -> AsyncIterator[bytes]:
        for _ in range(total // 100):
            yield b"x" * 100

    async with gateway(up, max_body_bytes=1000) as c:
        declared = await c.post("/api/v1/petitions", content=b"x" * 1001)
        streamed = await c.post("/api/v1/petitions", content=chunks(1100))
        exact = await c.post("/api/v1/petitions", content=b"y" * 1000)
        streamed_ok = await c.post("/api/v1/petitions", content=chunks(1000))
    for r in (declared, streamed):
        body = assert_problem(r, 413, "content-too-large")
        assert "1000 bytes" in body["detail"] and body["max_bytes"] == 1000
    assert "content-length" not in streamed.request.headers  # chunked: counted as it came
    assert exact.status_code == 201 and exact.json() == {"size": 1000}
    assert streamed_ok.status_code == 201 and streamed_ok.json() == {"size": 1000}
    assert len(up.seen) == 2


async def test_a_down_service_opens_its_breaker_and_the_others_keep_answering(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def broker_up(settings: GatewaySettings) -> bool:
        return True

    monkeypatch.setattr(gw_status, "broker_up", broker_up)
    clock = Clock()
    up = Upstreams()  # evaluation has no handler: connection refused
    up.handlers["routing"] = echo
    async with gateway(up, clock, breaker_failures=2, breaker_open_seconds=30) as c:
        first = await c.get(EVAL_PATH)
        second = await c.get(EVAL_PATH)
        calls = len(up.seen)
        clock.advance(10)
        refused = await c.get("/api/v1/units/U-1/callbacks")  # another evaluation path
        called_while_open = len(up.seen) - calls
        routing = await c.get(ROUTING_PATH)
        report = (await c.get("/status")).json()["services"]
        clock.advance(20)
        up.handlers["evaluation"] = echo  # the service is back
        probe = await c.get(EVAL_PATH)
        after = await c.get(EVAL_PATH)
    assert first.headers["retry-after"] == "5"
    assert second.headers["retry-after"] == "30"  # this failure opened the breaker
    body = assert_problem(refused, 503, "unavailable")
    assert refused.headers["retry-after"] == "20"
    assert body["service"] == "evaluation" and body["circuit"] == "open"
    assert called_while_open == 0
    assert routing.status_code == 200
    assert report["evaluation"]["breaker"] == {
        "state": "open",
        "consecutive_failures": 2,
        "retry_after": 20,
    }
    assert report["evaluation"]["status"] == "down"
    assert report["routing"]["breaker"]["state"] == "closed"
    assert probe.status_code == 200 and after.status_code == 200


async def test_upstream_503s_open_the_breaker_too() -> None:
    up = Upstreams()
    up.handlers["tracking"] = lambda r: httpx.Response(
        503, json={"detail": "database down"}, headers={"Retry-After": "5"}
    )
    async with gateway(up, Clock(), breaker_failures=3) as c:
        relayed = [await c.get("/api/v1/me/cases") for _ in range(3)]
        refused = await c.get("/api/v1/me/cases")
    assert [r.json() for r in relayed] == [{"detail": "database down"}] * 3
    assert refused.json()["circuit"] == "open" and len(up.seen) == 3


async def test_cors_answers_the_allowed_origin_only_and_exposes_what_clients_read() -> None:
    up = Upstreams()
    up.handlers["routing"] = echo
    preflight = {"Access-Control-Request-Method": "POST"}
    preflight["Access-Control-Request-Headers"] = "authorization,idempotency-key,content-type"
    async with gateway(
        up, Clock(), cors_origins=["https://app.example"], rate_limit_ip_per_minute=1
    ) as c:
        allowed = await c.options(
            "/api/v1/petitions", headers={"Origin": "https://app.example", **preflight}
        )
        other = await c.options(
            "/api/v1/petitions", headers={"Origin": "https://evil.example", **preflight}
        )
        ok = await c.get(ROUTING_PATH, headers={"Origin": "https://app.example"})
        limited = await c.get(ROUTING_PATH, headers={"Origin": "https://app.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "idempotency-key" in allowed.headers["access-control-allow-headers"].lower()
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers
    exposed = ok.headers["access-control-expose-headers"].lower()
    for name in ("location", "retry-after", "ratelimit-remaining", "x-request-id"):
        assert name in exposed
    assert limited.status_code == 429  # and a browser may read why
    assert limited.headers["access-control-allow-origin"] == "https://app.example"
    assert len(up.seen) == 1  # preflights never reach a service
