"""End-to-end: the broker, four services and the gateway as real processes, started once per
test session and shared by every end-to-end test (on free ports, never 8000-8004 or 9092).

Broker: Apache Kafka when XINFANG_KAFKA_BOOTSTRAP_SERVERS is set, else embedded tansu.
Databases: fresh PostgreSQL databases when XINFANG_TEST_POSTGRES_URL is set, else SQLite."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from sqlalchemy.engine import make_url

from services.devkit import admin_sql
from services.launcher import Suite
from shared.auth import mint_token
from shared.settings import SERVICES, CommonSettings
from tests.conftest import IN_CI, free_port_block

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def suite(bootstrap_servers: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Suite]:
    admin = os.environ.get("XINFANG_TEST_POSTGRES_URL")
    if not admin and IN_CI:
        pytest.fail("CI=true: end-to-end tests need XINFANG_TEST_POSTGRES_URL", pytrace=False)
    prefix = f"e2e{uuid.uuid4().hex[:8]}"
    urls: dict[str, str] = {}
    if admin:
        for service in SERVICES:
            name = f"{prefix}_{service}"
            asyncio.run(admin_sql(admin, f'CREATE DATABASE "{name}"'))
            urls[service] = make_url(admin).set(database=name).render_as_string(hide_password=False)
    s = Suite(
        var_dir=Path(tmp_path_factory.mktemp("suite")),
        base_port=free_port_block(5),
        bootstrap_servers=bootstrap_servers,
        database_urls=urls,
        extra_env={
            "XINFANG_TOPIC_PREFIX": prefix,
            "XINFANG_ENV": "test",
            # tracking's clock scheduler scans often, so a clock moved into the past is seen
            "XINFANG_SCHEDULER_INTERVAL_SECONDS": "0.5",
        },
    )
    try:
        s.start_services()
        yield s
    finally:
        s.stop()
        for service in urls:
            asyncio.run(
                admin_sql(admin or "", f'DROP DATABASE IF EXISTS "{prefix}_{service}" WITH (FORCE)')
            )


@pytest.fixture(scope="session")
def api(suite: Suite) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=suite.url("gateway"), timeout=30) as client:
        yield client


def token(role: str, sub: str, **claims: Any) -> dict[str, str]:
    return {"Authorization": "Bearer " + mint_token(CommonSettings(), role=role, sub=sub, **claims)}


def petition(region: str = "110107011", **over: Any) -> dict[str, Any]:
    """A complete online grievance. Each call is a different matter (a unique reference in
    its content), so that repeat detection does not link one test's petitions to another's;
    pass ``content`` to send the same matter twice."""
    body: dict[str, Any] = {
        "kind": "grievance",
        "channel": "web",
        "title": "拖欠工资三个月",
        "content": "某建筑公司拖欠农民工工资三个月，多次讨要无果。合同编号"
        + uuid.uuid4().hex
        + uuid.uuid4().hex,
        "petitioner": {
            "name": "张三",
            "phone": "13812345678",
            "address": "北京市石景山区鲁谷路1号",
            "id_number": "11010519491231002X",
        },
        "location": {"region_code": region},
        "category": "wage_arrears",
    }
    body.update(over)
    return body


def wait_for(check, timeout: float = 60, every: float = 0.2):  # type: ignore[no-untyped-def]
    """Poll ``check`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"condition not met in {timeout}s (last: {last!r})")


async def read_events(bootstrap: str, topics: list[str]) -> list[str]:
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    values: list[str] = []
    try:
        for _ in range(8):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                values += [r.value.decode(errors="replace") for r in records if r.value]
    finally:
        await consumer.stop()
    return values
