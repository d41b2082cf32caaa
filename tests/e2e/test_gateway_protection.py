"""Gateway protection through real processes: one extra gateway with tight limits in front of
the shared suite, its evaluation URL pointing at a closed port.

The shared suite's gateway has its rate limits off (services/launcher.py), so this module
starts its own. uvicorn trusts X-Forwarded-For from 127.0.0.1 (FORWARDED_ALLOW_IPS), as a
gateway trusts its ingress: each test speaks for clients of its own addresses, so the
per-address buckets of one test never meet another's.
"""

from __future__ import annotations

import itertools
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.launcher import Member, Suite
from tests.conftest import free_port_block
from tests.e2e.conftest import petition, token, wait_for

pytestmark = pytest.mark.e2e

PRINCIPAL_LIMIT, IP_LIMIT, QUERY_CODE_LIMIT = 3, 6, 2
MAX_BODY = 4096
OPEN_SECONDS = 60
ORIGIN = "https://app.example"
ROUTING_PATH = "/api/v1/regions/110107"
_addresses = (f"198.51.100.{i}" for i in itertools.count(1))


def client(address: str | None = None) -> dict[str, str]:
    """Headers of a request from a client address nobody else uses."""
    return {"X-Forwarded-For": address or next(_addresses)}


@pytest.fixture(scope="module")
def guarded(suite: Suite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    port = free_port_block(2)  # port + 1 stays closed: the "down" evaluation service
    env = {
        **suite.env(),
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        "XINFANG_EVALUATION_URL": f"http://127.0.0.1:{port + 1}",
        "XINFANG_RATE_LIMIT_ENABLED": "true",
        "XINFANG_RATE_LIMIT_PRINCIPAL_PER_MINUTE": str(PRINCIPAL_LIMIT),
        "XINFANG_RATE_LIMIT_IP_PER_MINUTE": str(IP_LIMIT),
        "XINFANG_RATE_LIMIT_QUERY_CODE_PER_MINUTE": str(QUERY_CODE_LIMIT),
        "XINFANG_MAX_BODY_BYTES": str(MAX_BODY),
        "XINFANG_BREAKER_FAILURES": "2",
        "XINFANG_BREAKER_OPEN_SECONDS": str(OPEN_SECONDS),
        "XINFANG_CORS_ORIGINS": ORIGIN,
    }
    cmd = [sys.executable, "-m", "uvicorn", "services.gateway.main:create_app", "--factory"]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    log = Path(tmp_path_factory.mktemp("guarded")) / "gateway.log"
    gateway = Member("guarded-gateway", cmd, env, log, f"http://127.0.0.1:{port}")
    gateway.start()
    try:
        with httpx.Client(base_url=gateway.url, timeout=30) as api:

            def ready() -> bool:
                assert gateway.alive, log.read_text()
                try:
                    return api.get("/readyz").status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(ready, timeout=60)
            yield api
    finally:
        gateway.signal(signal.SIGTERM)
        if not gateway.wait(15):
            gateway.signal(signal.SIGKILL)
            gateway.wait(5)


def until_refused(send, most: int) -> list[httpx.Response]:  # type: ignore[no-untyped-def]
    """Send until the gateway answers 429 (at most ``most`` requests)."""
    answers: list[httpx.Response] = []
    while len(answers) < most and (not answers or answers[-1].status_code != 429):
        answers.append(send())
    return answers


def assert_problem(r: httpx.Response, status: int) -> dict:  # type: ignore[type-arg]
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    return r.json()


def test_an_account_over_its_limit_gets_429_with_retry_after(guarded: httpx.Client) -> None:
    office = client()
    alice = {**office, **token("petitioner", "protect-alice")}
    answers = until_refused(lambda: guarded.get("/api/v1/me/cases", headers=alice), 10)
    assert [r.status_code for r in answers[:PRINCIPAL_LIMIT]] == [200] * PRINCIPAL_LIMIT
    assert answers[0].headers["ratelimit-limit"] == str(PRINCIPAL_LIMIT)
    assert answers[0].headers["ratelimit-remaining"] == str(PRINCIPAL_LIMIT - 1)
    refused = answers[-1]
    body = assert_problem(refused, 429)
    assert body["limit"] == "principal" and body["type"].endswith("/rate-limited")
    assert 1 <= int(refused.headers["retry-after"]) <= 60 // PRINCIPAL_LIMIT
    assert refused.headers["ratelimit-remaining"] == "0"
    # Another account at the same address is still served.
    bob = guarded.get("/api/v1/me/cases", headers={**office, **token("petitioner", "protect-b")})
    assert bob.status_code == 200


def test_an_address_over_its_limit_gets_429_and_health_stays_open(
    guarded: httpx.Client,
) -> None:
    crowd = client()
    answers = until_refused(lambda: guarded.get(ROUTING_PATH, headers=crowd), 20)
    assert [r.status_code for r in answers[:IP_LIMIT]] == [200] * IP_LIMIT
    body = assert_problem(answers[-1], 429)
    assert body["limit"] == "ip" and int(answers[-1].headers["retry-after"]) >= 1
    for path in ("/healthz", "/readyz", "/metrics"):
        assert guarded.get(path, headers=crowd).status_code == 200
    assert guarded.get(ROUTING_PATH, headers=client()).status_code == 200  # another address


def test_query_code_lookups_are_limited_much_sooner(guarded: httpx.Client) -> None:
    guesser = client()
    lookup = "/api/v1/cases/110107-261128-00001-X"

    def guess() -> httpx.Response:
        return guarded.get(lookup, params={"query_code": "ABCD2345"}, headers=guesser)

    answers = until_refused(guess, 10)
    assert [r.status_code for r in answers[:QUERY_CODE_LIMIT]] == [404] * QUERY_CODE_LIMIT
    assert assert_problem(answers[-1], 429)["limit"] == "query_code"
    assert answers[-1].headers["ratelimit-limit"] == str(QUERY_CODE_LIMIT)
    # The same address may still do everything else.
    assert guarded.get(ROUTING_PATH, headers=guesser).status_code == 200


def test_a_body_over_the_limit_is_413_and_one_under_it_is_forwarded(
    guarded: httpx.Client,
) -> None:
    owner = {**client(), **token("petitioner", "protect-body")}
    big = b"{" + b" " * MAX_BODY + b"}"

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 1000):
            yield big[i : i + 1000]

    declared = guarded.post("/api/v1/petitions", content=big, headers=owner)
    streamed = guarded.post("/api/v1/petitions", content=chunks(), headers=owner)
    for r in (declared, streamed):
        body = assert_problem(r, 413)
        assert body["max_bytes"] == MAX_BODY and f"{MAX_BODY} bytes" in body["detail"]
    created = guarded.post("/api/v1/petitions", json=petition(), headers=owner)
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "received"


def test_a_down_service_gets_503_from_its_breaker_while_others_answer(
    guarded: httpx.Client,
) -> None:
    first = guarded.get("/api/v1/analytics/overview", headers=client())
    opening = guarded.get("/api/v1/analytics/overview", headers=client())
    assert assert_problem(first, 503)["type"].endswith("/unavailable")
    assert "evaluation" in first.json()["detail"]
    assert opening.status_code == 503 and opening.headers["retry-after"] == str(OPEN_SECONDS)
    # Open: every evaluation path is refused at once, with the time left.
    for path in ("/api/v1/analytics/overview", "/api/v1/units/110107:hrss/callbacks"):
        refused = guarded.get(path, headers=client())
        body = assert_problem(refused, 503)
        assert body["circuit"] == "open" and body["service"] == "evaluation"
        assert 1 <= int(refused.headers["retry-after"]) <= OPEN_SECONDS
    assert guarded.get(ROUTING_PATH, headers=client()).status_code == 200
    status = guarded.get("/status")
    assert status.status_code == 503
    services = status.json()["services"]
    assert services["evaluation"]["status"] == "down"
    assert services["evaluation"]["breaker"]["state"] == "open"
    assert services["routing"]["status"] == "up"
    assert services["routing"]["breaker"]["state"] == "closed"
    metrics = guarded.get("/metrics").text
    assert 'xinfang_gateway_breaker_state{service="evaluation"} 2.0' in metrics


def test_cors_preflight_is_answered_for_the_allowed_origin_only(guarded: httpx.Client) -> None:
    ask = {"Access-Control-Request-Method": "POST", **client()}
    ask["Access-Control-Request-Headers"] = "authorization,content-type,idempotency-key"
    allowed = guarded.options("/api/v1/petitions", headers={"Origin": ORIGIN, **ask})
    other = guarded.options("/api/v1/petitions", headers={"Origin": "https://evil.example", **ask})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers
    read = guarded.get(ROUTING_PATH, headers={"Origin": ORIGIN, **client()})
    assert read.headers["access-control-allow-origin"] == ORIGIN
    exposed = read.headers["access-control-expose-headers"].lower()
    for name in ("location", "retry-after", "ratelimit-remaining", "x-request-id"):
        assert name in exposed


def test_the_shared_suite_gateway_does_not_limit(api: httpx.Client) -> None:
    answers = [api.get(ROUTING_PATH) for _ in range(IP_LIMIT * 3)]
    assert {r.status_code for r in answers} == {200}
    assert "ratelimit-limit" not in answers[0].headers
