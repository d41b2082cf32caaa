"""Service tests: one service's code against a real database (SQLite and PostgreSQL) and a
real Kafka-protocol broker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from services.devkit import create_scratch_database, drop_scratch_database
from tests.conftest import need


@pytest.fixture(params=["sqlite", "postgres"])
async def database_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """A fresh, empty database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path}/service.db"
        return
    admin = need("XINFANG_TEST_POSTGRES_URL", "the PostgreSQL variant of this test")
    url = await create_scratch_database(admin, "xft")
    yield url
    await drop_scratch_database(admin, url)


@pytest.fixture
def topic_prefix() -> str:
    """Each test gets its own topics and consumer groups on the shared broker."""
    return f"t{uuid.uuid4().hex[:10]}"
