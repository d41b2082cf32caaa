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
QUERY_CODE_SCRYPT_N = 2**14

SERVICES = ("intake", "routing", "tracking", "evaluation")


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="XINFANG_", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    log_level: str = "INFO"
    var_dir: str = "var"

    # Broker and topics
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = None
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
    # The issuer's key set is fetched once and kept this long; a token signed by a key not in
    # it refetches the set (key rotation), at most once per jwt_jwks_refetch_seconds, so tokens
    # with made-up key ids cannot make every request hit the issuer
    jwt_jwks_cache_seconds: float = Field(300.0, gt=0)
    jwt_jwks_refetch_seconds: float = Field(30.0, ge=0)
    jwt_jwks_timeout_seconds: float = Field(5.0, gt=0)
    jwt_leeway_seconds: int = Field(30, ge=0, le=300)  # clock skew allowed on exp/iat/nbf

    # Personal data
    pii_key: SecretStr = SecretStr(DEV_PII_KEY)
    pii_key_id: str = "dev1"
    # Keys still readable after a rotation, as JSON: {"<old key id>": "<base64 key>"}
    pii_old_keys: dict[str, SecretStr] = Field(default_factory=dict)
    hmac_key: SecretStr = SecretStr(DEV_HMAC_KEY)

    # Deadlines (PROCEDURE §5). The holiday calendar for years the chinese-calendar package
    # does not know yet: a JSON file in the format of shared/data/holidays.json
    acceptance_days: int = Field(15, ge=1)
    objection_working_days: int = Field(5, ge=1)
    handling_days: int = Field(60, ge=1)
    extension_max_days: int = Field(30, ge=1)
    simplified_accept_working_days: int = Field(3, ge=1)
    simplified_reply_working_days: int = Field(10, ge=1)
    review_request_days: int = Field(30, ge=1)
    review_decision_days: int = Field(30, ge=1)
    holidays_file: str | None = None

    # Supervision (督办, Art. 38-40): days the supervised unit has to respond; how often
    # tracking's scheduler looks for clocks that crossed a threshold (one replica at a time)
    supervision_response_days: int = Field(30, ge=1)
    scheduler_interval_seconds: float = Field(60.0, gt=0)

    # Objections (Art. 23): after this many transfers of one case, the region's petition
    # bureau names the lead unit itself and that choice is final (anti 踢皮球)
    transfer_cap: int = Field(3, ge=1)

    # Routing: how often each replica looks for directory edits made by another replica
    directory_refresh_seconds: float = Field(10.0, gt=0)

    # Query-code lookups allowed per client and per tracking number, per minute
    query_code_rate_per_minute: int = Field(10, ge=1)

    # Satisfaction (PROCEDURE §8): days to rate after each moment (acceptance notice, reply),
    # hours after a rating during which it may be changed, and the days the handling unit has
    # to call a dissatisfied petitioner back
    rating_window_days: int = Field(30, ge=1)
    rating_change_hours: float = Field(24.0, gt=0)
    callback_days: int = Field(7, ge=1)

    # Repeats and collective petitions (intake): character-trigram Jaccard similarity
    repeat_similarity: float = Field(0.6, gt=0, le=1)
    collective_similarity: float = Field(0.5, gt=0, le=1)
    collective_window_days: int = Field(7, ge=1)
    collective_min_petitioners: int = Field(5, ge=2)

    # Analytics (evaluation): a case open longer than backlog_days (or petitioned again) is a
    # backlog case (积案); how often evaluation looks for open cases crossing that line (one
    # replica at a time). Early warning: a category's petitions today in a region against
    # the previous warning_baseline_days days there (z-score, the standard deviation floored
    # at warning_min_sd), raised from warning_z_score and at least warning_min_count petitions
    backlog_days: int = Field(90, ge=1)
    analytics_sweep_seconds: float = Field(600.0, gt=0)
    warning_baseline_days: int = Field(28, ge=2)
    warning_z_score: float = Field(3.0, gt=0)
    warning_min_count: int = Field(5, ge=1)
    warning_min_sd: float = Field(1.0, gt=0)

    # Webhooks of agency systems (tracking): how often the worker looks for due deliveries
    # and how many it sends at once, the timeout of one POST, the first retry delay (doubling
    # up to the cap), and how long after the event a delivery is retried before it fails
    webhook_poll_seconds: float = Field(1.0, gt=0)
    webhook_batch_size: int = Field(50, ge=1)
    webhook_timeout_seconds: float = Field(10.0, gt=0)
    webhook_backoff_seconds: float = Field(10.0, gt=0)
    webhook_backoff_max_seconds: float = Field(3600.0, gt=0)
    webhook_retry_hours: float = Field(24.0, gt=0)

    # Video receptions (视频接访, tracking): the hours a slot must lie in (China time, on an
    # official working day; a slot never straddles a break), the meeting link template
    # (Xinfang carries no video: the provider is configured; {reception_id} is replaced) and
    # how many minutes before the start each reminder goes out
    reception_hours: str = Field(
        "09:00-12:00,13:30-17:30", pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}(,\d{2}:\d{2}-\d{2}:\d{2})*$"
    )
    reception_meeting_url: str = "https://meeting.invalid/xinfang/{reception_id}"
    reception_reminder_minutes: list[int] = Field(default_factory=lambda: [1440, 60])

    # The work factor N of the scrypt hash that keeps query codes (a power of two; the hash
    # records it, so a change applies to new petitions and old codes still verify). At the
    # default a hash takes about 64 ms of CPU, most of a submission's cost; production refuses
    # less. A load test whose subject is not the hash may lower it (the fault suite does).
    query_code_scrypt_n: int = Field(QUERY_CODE_SCRYPT_N, ge=2**10, le=2**20)

    @model_validator(mode="after")
    def _no_dev_secrets_in_production(self) -> CommonSettings:
        """Every process verifies tokens, so the JWT secret is checked everywhere; the PII
        and HMAC keys only where they are used (intake; the PII key also in tracking)."""
        if self.env == "production" and not self.jwt_jwks_url:
            _strong("XINFANG_JWT_SECRET", self.jwt_secret, DEV_JWT_SECRET)
        n = self.query_code_scrypt_n
        if n & (n - 1):
            raise ValueError("XINFANG_QUERY_CODE_SCRYPT_N must be a power of two")
        if self.env == "production" and n < QUERY_CODE_SCRYPT_N:
            raise ValueError(
                f"XINFANG_QUERY_CODE_SCRYPT_N below {QUERY_CODE_SCRYPT_N} is refused in production"
            )
        for period in self.reception_hours.split(","):
            start, end = period.split("-")
            if not ("00:00" <= start < end <= "24:00") or start[3:] > "59" or end[3:] > "59":
                raise ValueError(f"XINFANG_RECEPTION_HOURS: {period} is not a period of a day")
        if any(m <= 0 for m in self.reception_reminder_minutes):
            raise ValueError("XINFANG_RECEPTION_REMINDER_MINUTES must be positive minutes")
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


def _strong(name: str, value: SecretStr, dev_default: str, minimum: int = 32) -> None:
    secret = value.get_secret_value()
    if secret == dev_default:
        raise ValueError(f"set {name}: the development default is refused in production")
    if len(secret) < minimum:
        raise ValueError(f"{name} must be at least {minimum} characters in production")


class ServiceSettings(CommonSettings):
    """A service with its own database. Subclasses give ``database_url`` its env name."""

    service_name: str = ""
    database_url: str = ""
    migrate_on_start: bool = True

    @model_validator(mode="after")
    def _production_needs_its_own_database_and_keys(self) -> ServiceSettings:
        if self.env != "production":
            return self
        if not self.database_url:
            raise ValueError(
                f"set XINFANG_{self.service_name.upper()}_DATABASE_URL: production "
                "never falls back to SQLite"
            )
        if self.service_name == "intake":
            _strong("XINFANG_PII_KEY", self.pii_key, DEV_PII_KEY)
            _strong("XINFANG_HMAC_KEY", self.hmac_key, DEV_HMAC_KEY)
        if self.service_name == "tracking":  # it encrypts the webhook secrets with this key
            _strong("XINFANG_PII_KEY", self.pii_key, DEV_PII_KEY)
        return self

    def database_url_or_default(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.var_dir}/{self.service_name}.db"


def service_settings(service: str) -> ServiceSettings:
    """Settings of one service, reading ``XINFANG_<SERVICE>_DATABASE_URL``."""
    env_name = f"XINFANG_{service.upper()}_DATABASE_URL"

    class _Settings(ServiceSettings):
        database_url: str = Field("", validation_alias=env_name)

    settings = _Settings(service_name=service)
    return settings
