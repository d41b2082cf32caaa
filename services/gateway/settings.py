"""Gateway settings: where the services are, and how long to wait for them.

Read from ``XINFANG_INTAKE_URL``, ``XINFANG_ROUTING_URL``, ``XINFANG_TRACKING_URL``,
``XINFANG_EVALUATION_URL`` and ``XINFANG_UPSTREAM_TIMEOUT_SECONDS``; the defaults are the
development ports 8001-8004.
"""

from __future__ import annotations

from pydantic import Field

from shared.settings import CommonSettings


class GatewaySettings(CommonSettings):
    intake_url: str = "http://127.0.0.1:8001"
    routing_url: str = "http://127.0.0.1:8002"
    tracking_url: str = "http://127.0.0.1:8003"
    evaluation_url: str = "http://127.0.0.1:8004"
    upstream_timeout_seconds: float = Field(10.0, gt=0)
    # Each probe of GET /status (a service's /readyz, /internal/status, the broker).
    status_timeout_seconds: float = Field(3.0, gt=0)

    def service_urls(self) -> dict[str, str]:
        """Base URL of every service, without a trailing slash."""
        return {
            "intake": self.intake_url.rstrip("/"),
            "routing": self.routing_url.rstrip("/"),
            "tracking": self.tracking_url.rstrip("/"),
            "evaluation": self.evaluation_url.rstrip("/"),
        }
