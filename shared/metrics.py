"""Prometheus metrics shared by every process (one registry per process)."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

HTTP_REQUESTS = Counter(
    "xinfang_http_requests_total", "HTTP requests", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "xinfang_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_PUBLISHED = Counter("xinfang_events_published_total", "Events published", ["service"])
EVENTS_REPUBLISHED = Counter(
    "xinfang_events_republished_total",
    "Events marked for republishing after broker loss",
    ["service"],
)
EVENTS_CONSUMED = Counter(
    "xinfang_events_consumed_total", "Events consumed, by outcome", ["service", "type", "outcome"]
)
OUTBOX_BACKLOG = Gauge("xinfang_outbox_backlog", "Outbox rows not yet published", ["service"])
CONSUMER_LAG = Gauge("xinfang_consumer_lag", "Messages behind the end of the topics", ["service"])
DLQ_SENT = Counter(
    "xinfang_dlq_messages_total", "Messages sent to a dead-letter topic", ["service"]
)
PARKED = Gauge("xinfang_parked_events", "Events waiting for their prerequisite", ["service"])


async def metrics_endpoint(_request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
