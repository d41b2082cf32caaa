"""Webhooks, pure parts: signatures, backoff and the retry window, what a unit may subscribe
to and which URLs it may register; the gateway sends webhook paths to tracking."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import ValidationError

from shared.errors import Invalid
from shared.settings import CommonSettings, service_settings
from tests.unit.test_gateway import Upstreams, echo, gateway
from tracking import webhooks
from tracking.webhooks_api import check_event_types, deliverable_types, url_problem

SECRET = "s3cret-of-the-unit-system"
BODY = '{"type":"tracking.case.routed.v1","data":{"unit_id":"110107:hrss"}}'
NOW = 1_800_000_000


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    header = webhooks.sign(SECRET, NOW, BODY)
    expected = hmac.new(SECRET.encode(), f"{NOW}.{BODY}".encode(), hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"
    assert webhooks.sign(SECRET, NOW, BODY.encode()) == header


def test_verify_accepts_the_signed_body_only() -> None:
    header = webhooks.sign(SECRET, NOW, BODY)
    assert webhooks.verify(SECRET, header, BODY, tolerance=300, now=NOW + 10)
    assert webhooks.verify(SECRET, header, BODY.encode(), now=NOW - 10)
    assert not webhooks.verify("another-secret-entirely", header, BODY, now=NOW)
    assert not webhooks.verify(SECRET, header, BODY.replace("hrss", "housing"), now=NOW)
    # the timestamp is signed too: moving it breaks the signature
    moved = header.replace(f"t={NOW}", f"t={NOW + 1}")
    assert not webhooks.verify(SECRET, moved, BODY, now=NOW)


def test_verify_refuses_old_and_malformed_headers() -> None:
    header = webhooks.sign(SECRET, NOW, BODY)
    assert not webhooks.verify(SECRET, header, BODY, tolerance=300, now=NOW + 301)
    assert webhooks.verify(SECRET, header, BODY, tolerance=3600, now=NOW + 301)
    for bad in ("", "v1=abc", f"t={NOW}", f"t=soon,v1={'0' * 64}", "garbage"):
        assert not webhooks.verify(SECRET, bad, BODY, now=NOW)


def test_verify_accepts_any_of_several_signatures() -> None:
    good = webhooks.sign(SECRET, NOW, BODY).split(",")[1]
    assert webhooks.verify(SECRET, f"t={NOW},v1={'0' * 64},{good}", BODY, now=NOW)


def test_backoff_doubles_from_the_first_delay_up_to_the_cap() -> None:
    waits = [webhooks.backoff(n, 10, 3600) for n in range(1, 12)]
    assert waits == [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
    assert webhooks.backoff(10_000, 10, 3600) == 3600  # no overflow


def test_retries_stop_after_the_window() -> None:
    settings = CommonSettings()  # 10 s doubling, capped at 1 h, for 24 h
    created = datetime(2026, 11, 28, tzinfo=UTC)
    at, attempts, tries = created, 0, []
    while at is not None:
        attempts += 1
        tries.append(at)
        at = webhooks.next_attempt(created, at, attempts, settings)
    assert tries[1] - tries[0] == timedelta(seconds=10)
    assert tries[-1] - tries[-2] == timedelta(hours=1)
    assert tries[-1] <= created + timedelta(hours=24) < tries[-1] + timedelta(hours=1)
    assert 30 < attempts < 40


def test_subscriptions_want_their_types_or_everything() -> None:
    assert webhooks.wants(["tracking.case.routed.v1"], "tracking.case.routed.v1")
    assert not webhooks.wants(["tracking.case.routed.v1"], "tracking.case.accepted.v1")
    assert webhooks.wants(["*"], "tracking.clock.overdue.v1")


def test_only_tracking_events_about_a_unit_may_be_subscribed() -> None:
    allowed = deliverable_types()
    assert "tracking.case.routed.v1" in allowed and "tracking.clock.overdue.v1" in allowed
    assert "routing.case.routed.v1" not in allowed  # not tracking's
    assert "tracking.notification.requested.v1" not in allowed  # names no unit
    assert check_event_types(["*"]) == ["*"]
    assert check_event_types(["tracking.case.routed.v1"] * 2) == ["tracking.case.routed.v1"]
    for bad in (["routing.case.routed.v1"], ["*", "tracking.case.routed.v1"], ["nope"]):
        with pytest.raises(Invalid) as caught:
            check_event_types(bad)
        assert caught.value.errors and caught.value.errors[0]["field"] == "event_types"


def test_receiver_urls() -> None:
    assert url_problem("http://127.0.0.1:9000/hook", production=False) is None
    assert url_problem("https://agency.example.cn/xinfang", production=True) is None
    assert "https" in (url_problem("http://agency.example.cn/hook", production=True) or "")
    for bad in ("https://10.0.0.5/hook", "https://localhost/hook", "https://[::1]/h"):
        assert "public" in (url_problem(bad, production=True) or "")
    assert url_problem("ftp://agency.example.cn/", production=False)
    assert url_problem("agency.example.cn/hook", production=False)
    assert url_problem("https://user:pw@agency.example.cn/", production=False)
    assert url_problem("https://agency.example.cn:99999/", production=False)


def test_production_tracking_refuses_the_development_pii_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tracking encrypts the webhook secrets with the PII key."""
    monkeypatch.setenv("XINFANG_ENV", "production")
    monkeypatch.setenv("XINFANG_JWT_SECRET", "x" * 40)
    monkeypatch.setenv("XINFANG_TRACKING_DATABASE_URL", "postgresql+asyncpg://u:p@db/tracking")
    with pytest.raises(ValidationError, match="XINFANG_PII_KEY"):
        service_settings("tracking")
    monkeypatch.setenv("XINFANG_PII_KEY", "A" * 43)
    assert service_settings("tracking").webhook_retry_hours == 24


async def test_gateway_sends_webhook_paths_to_tracking() -> None:
    up = Upstreams()
    up.handlers["tracking"] = echo
    up.handlers["routing"] = lambda r: httpx.Response(418)
    paths = [
        ("POST", "/api/v1/units/110107:hrss/webhooks"),
        ("GET", "/api/v1/units/110107:hrss/webhooks"),
        ("DELETE", "/api/v1/units/110107:hrss/webhooks/w1"),
        ("GET", "/api/v1/units/110107:hrss/webhooks/w1/deliveries?limit=5"),
        ("POST", "/api/v1/units/110107:hrss/webhooks/deliveries/d1/replay"),
    ]
    async with gateway(up) as c:
        for method, path in paths:
            r = await c.request(method, path, headers={"Authorization": "Bearer t"})
            assert r.status_code == 200, (method, path, r.status_code)
            assert r.json()["path"] == path.split("?")[0]
        assert (await c.get("/api/v1/units/110107:hrss")).status_code == 418  # still routing's
