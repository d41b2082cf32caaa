"""Gateway settings: where the services are, and how long to wait for them.

Read from ``XINFANG_INTAKE_URL``, ``XINFANG_ROUTING_URL``, ``XINFANG_TRACKING_URL``,
``XINFANG_EVALUATION_URL`` and ``XINFANG_UPSTREAM_TIMEOUT_SECONDS``; the defaults are the
development ports 8001-8004. The protection settings (rate limits, body size, breakers, CORS)
are described in the README's "Gateway protection".
"""

from __future__ import annotations

import json
import re
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from shared.settings import CommonSettings

# The Open311 API key of the development suite (client "dev"); never accepted in production.
DEV_OPEN311_API_KEY = "xinfang-dev-open311-key"


class GatewaySettings(CommonSettings):
    intake_url: str = "http://127.0.0.1:8001"
    routing_url: str = "http://127.0.0.1:8002"
    tracking_url: str = "http://127.0.0.1:8003"
    evaluation_url: str = "http://127.0.0.1:8004"
    upstream_timeout_seconds: float = Field(10.0, gt=0)
    # Each probe of GET /status (a service's /readyz, /internal/status, the broker).
    status_timeout_seconds: float = Field(3.0, gt=0)

    # Protection (services/gateway/protection.py; README "Gateway protection"). Opening a
    # connection to a service has its own, shorter timeout.
    upstream_connect_timeout_seconds: float = Field(3.0, gt=0)
    max_body_bytes: int = Field(1_048_576, ge=1)
    rate_limit_enabled: bool = True
    rate_limit_principal_per_minute: int = Field(600, ge=1)
    rate_limit_ip_per_minute: int = Field(1200, ge=1)
    rate_limit_query_code_per_minute: int = Field(10, ge=1)
    rate_limit_max_keys: int = Field(100_000, ge=1)
    breaker_failures: int = Field(5, ge=1)
    breaker_open_seconds: float = Field(10.0, gt=0)
    # Web origins allowed to call the API from a browser: JSON list or comma-separated
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [o.strip() for o in text.split(",") if o.strip()]
        return value

    # Open311 GeoReport v2 (services/gateway/open311; README "Open311 GeoReport v2"). API keys
    # as JSON {"<api key>": "<client name>"}; in production none unless set. Each client's
    # upstream tokens, JSON {"<client name>": "<JWT>"}: a `service` token to submit and a
    # `petitioner` token to follow, both with subject open311:<client>; required where tokens
    # come from an issuer (JWKS), else minted with the local secret.
    open311_api_keys: dict[str, str] = Field(default_factory=lambda: {DEV_OPEN311_API_KEY: "dev"})
    open311_submit_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    open311_read_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    open311_max_requests: int = Field(200, ge=1, le=1000)
    open311_contact: str = "信访平台运营方 (the platform's operators)"
    open311_key_service: str = "API keys are issued by the platform's operators, one per client"

    @model_validator(mode="after")
    def _open311(self) -> GatewaySettings:
        clients = set(self.open311_api_keys.values())
        if bad := sorted(c for c in clients if not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", c)):
            raise ValueError(f"Open311 client names must be 1-40 of A-Z a-z 0-9 _ -: {bad}")
        if self.env != "production":
            return self
        if "open311_api_keys" not in self.model_fields_set:
            self.open311_api_keys = {}
        if any(k == DEV_OPEN311_API_KEY or len(k) < 24 for k in self.open311_api_keys):
            raise ValueError("XINFANG_OPEN311_API_KEYS: keys of 24+ characters, not the dev key")
        tokens = set(self.open311_submit_tokens) & set(self.open311_read_tokens)
        if self.jwt_jwks_url and (missing := sorted(clients - tokens)):
            raise ValueError(
                "XINFANG_OPEN311_SUBMIT_TOKENS and XINFANG_OPEN311_READ_TOKENS need a token "
                f"for every Open311 client (tokens come from the issuer): {missing}"
            )
        return self

    def service_urls(self) -> dict[str, str]:
        """Base URL of every service, without a trailing slash."""
        return {
            "intake": self.intake_url.rstrip("/"),
            "routing": self.routing_url.rstrip("/"),
            "tracking": self.tracking_url.rstrip("/"),
            "evaluation": self.evaluation_url.rstrip("/"),
        }
