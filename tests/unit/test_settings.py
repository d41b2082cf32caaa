from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from shared.messaging.kafka import connection
from shared.settings import CommonSettings, service_settings

STRONG = "x" * 40


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defaults as a fresh machine has them, whatever CI exported."""
    for name in [n for n in os.environ if n.startswith("XINFANG_")]:
        monkeypatch.delenv(name)


def test_development_defaults_work_out_of_the_box() -> None:
    s = service_settings("intake")
    assert s.database_url_or_default() == "sqlite+aiosqlite:///var/intake.db"
    assert s.topic("intake") == "xinfang.intake.events"
    assert s.consumer_group("routing") == "xinfang-routing"
    assert "xinfang.tracking.events.dlq" in s.all_topics


def test_production_refuses_the_development_jwt_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINFANG_ENV", "production")
    with pytest.raises(ValidationError, match="XINFANG_JWT_SECRET"):
        CommonSettings()
    monkeypatch.setenv("XINFANG_JWT_SECRET", "short")
    with pytest.raises(ValidationError, match="at least 32"):
        CommonSettings()
    monkeypatch.setenv("XINFANG_JWT_SECRET", STRONG)
    assert CommonSettings().env == "production"


def test_production_service_needs_its_own_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINFANG_ENV", "production")
    monkeypatch.setenv("XINFANG_JWT_SECRET", STRONG)
    with pytest.raises(ValidationError, match="XINFANG_ROUTING_DATABASE_URL"):
        service_settings("routing")
    monkeypatch.setenv("XINFANG_ROUTING_DATABASE_URL", "postgresql+asyncpg://u:p@db/routing")
    assert service_settings("routing").database_url.endswith("/routing")


def test_intake_needs_the_pii_and_hmac_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINFANG_ENV", "production")
    monkeypatch.setenv("XINFANG_JWT_SECRET", STRONG)
    monkeypatch.setenv("XINFANG_INTAKE_DATABASE_URL", "postgresql+asyncpg://u:p@db/intake")
    with pytest.raises(ValidationError, match="XINFANG_PII_KEY"):
        service_settings("intake")
    monkeypatch.setenv("XINFANG_PII_KEY", "A" * 43)
    monkeypatch.setenv("XINFANG_HMAC_KEY", STRONG)
    assert service_settings("intake").pii_key.get_secret_value() == "A" * 43


def test_kafka_connection_carries_tls_and_sasl() -> None:
    plain = connection(CommonSettings())
    assert plain == {"bootstrap_servers": "127.0.0.1:9092", "security_protocol": "PLAINTEXT"}
    secure = connection(
        CommonSettings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="xinfang",
            kafka_sasl_password="pw",
        )
    )
    assert secure["sasl_plain_password"] == "pw" and secure["ssl_context"] is not None
