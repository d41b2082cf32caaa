"""Typed settings, one pattern for every process.

Every setting is an environment variable prefixed ``XINFANG_``. A service's own database is
``XINFANG_<SERVICE>_DATABASE_URL``; everything else is shared. Defaults are the embedded
development suite (SQLite under ``var/``, broker on 127.0.0.1:9092, a local JWT secret);
``XINFANG_ENV=production`` refuses the development secrets.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cached_property
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "xinfang-development-secret-do-not-use-in-production"
DEV_PII_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"xinfang-dev-pii-key").digest()).decode()
DEV_HMAC_KEY = "xinfang-development-hmac-key"

SERVICES = ("intake", "routing", "tracking", "evaluation")


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XINFANG_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    var_dir: str = "var"

    # Broker and topics
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = "xinfang"
    topic_partitions: int = Field(12, ge=1)
    topic_replication_factor: int = Field(1, ge=1)

    # Messaging behaviour
    outbox_batch_size: int = Field(200, ge=1)
    outbox_poll_seconds: float = Field(0.5, gt=0)
    outbox_check_seconds: float = Field(30.0, gt=0)
    consumer_max_attempts: int = Field(5, ge=1)
    consumer_retry_backoff_seconds: float = Field(0.2, ge=0)

    # Identity and access
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    jwt_algorithm: str = "HS256"
    jwt_issuer: str = "xinfang-dev"
    jwt_audience: str = "xinfang-api"
    jwt_jwks_url: str | None = None

    # Personal data
    pii_key: SecretStr = SecretStr(DEV_PII_KEY)
    pii_key_id: str = "dev1"
    hmac_key: SecretStr = SecretStr(DEV_HMAC_KEY)

    # Deadlines
    acceptance_days: int = Field(15, ge=1)

    # Query-code lookups allowed per client and per tracking number, per minute
    query_code_rate_per_minute: int = Field(10, ge=1)

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> CommonSettings:
        if self.env == "production":
            dev = {
                "XINFANG_JWT_SECRET": self.jwt_secret.get_secret_value() == DEV_JWT_SECRET
                and not self.jwt_jwks_url,
                "XINFANG_PII_KEY": self.pii_key.get_secret_value() == DEV_PII_KEY,
                "XINFANG_HMAC_KEY": self.hmac_key.get_secret_value() == DEV_HMAC_KEY,
            }
            bad = [name for name, is_dev in dev.items() if is_dev]
            if bad:
                raise ValueError(
                    f"set {', '.join(bad)}: development defaults refused in production"
                )
        return self

    def topic(self, service: str) -> str:
        """The event topic of a producing service, e.g. ``xinfang.intake.events``."""
        return f"{self.topic_prefix}.{service}.events"

    def dlq_topic(self, topic: str) -> str:
        return f"{topic}.dlq"

    def consumer_group(self, service: str) -> str:
        return f"{self.topic_prefix}-{service}"

    @cached_property
    def all_topics(self) -> list[str]:
        topics = [self.topic(s) for s in SERVICES]
        return topics + [self.dlq_topic(t) for t in topics]


class ServiceSettings(CommonSettings):
    """A service with its own database. Subclasses give ``database_url`` its env name."""

    service_name: str = ""
    database_url: str = ""
    migrate_on_start: bool = True

    def database_url_or_default(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.var_dir}/{self.service_name}.db"


def service_settings(service: str) -> ServiceSettings:
    """Settings of one service, reading ``XINFANG_<SERVICE>_DATABASE_URL``."""
    env_name = f"XINFANG_{service.upper()}_DATABASE_URL"

    class _Settings(ServiceSettings):
        database_url: str = Field("", validation_alias=env_name)

    settings = _Settings(service_name=service)
    return settings
