"""The reliability suite's own infrastructure, never shared with the other tests: Apache Kafka
started here from the jars that ``deploy/kafka/kafka.sh fetch`` brings (so a test may restart
or kill brokers), and a PostgreSQL server of its own (so a test may stop it). Outside CI a
missing prerequisite skips these tests; under ``CI=true`` it fails them."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.devkit import admin_sql
from services.launcher import Suite
from shared.settings import SERVICES
from tests.conftest import IN_CI, free_port_block
from tests.reliability.kafka_cluster import KafkaCluster, kafka_libs
from tests.reliability.postgres_instance import PostgresInstance, server_bin


def missing(what: str) -> None:
    message = f"the reliability suite needs {what}"
    if IN_CI:
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


@pytest.hookimpl(wrapper=True, trylast=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """These tests print what they counted (submitted, answered, lost, doubled ...): shown in
    `make test`'s output even when they pass."""
    capture = item.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        return (yield)


@pytest.fixture(scope="session")
def kafka_jars() -> Path:
    libs = kafka_libs()
    if libs is None:
        missing("the Apache Kafka jars (run deploy/kafka/kafka.sh fetch, as .ci/run does)")
    assert libs is not None
    return libs


@pytest.fixture(scope="session")
def own_postgres() -> Iterator[PostgresInstance]:
    bin_dir = server_bin()
    if bin_dir is None:
        missing("PostgreSQL's server (deploy/postgres/postgres.sh install, as .ci/run does)")
    assert bin_dir is not None
    pg = PostgresInstance(bin_dir)
    try:
        pg.init()
        pg.start()
        yield pg
    finally:
        pg.close()


@dataclass
class World:
    """A whole suite on a broker and a database server that the tests may break."""

    suite: Suite
    kafka: KafkaCluster
    postgres: PostgresInstance
    database_urls: dict[str, str]


def cpu_seconds(suite: Suite) -> dict[str, float]:
    """User + system CPU of each process of the suite since it (re)started."""
    out = {}
    tick = os.sysconf("SC_CLK_TCK")
    for name, member in suite.members.items():
        if member.proc is None or not member.alive:
            continue
        fields = Path(f"/proc/{member.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        out[name] = round((int(fields[11]) + int(fields[12])) / tick, 1)
    return out


@pytest.fixture(scope="module")
def world(
    kafka_jars: Path, own_postgres: PostgresInstance, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    home = Path(tmp_path_factory.mktemp("faults"))
    kafka = KafkaCluster(home / "kafka", nodes=1, libs=kafka_jars)
    prefix = f"rel{uuid.uuid4().hex[:8]}"
    urls = {s: own_postgres.url(f"{prefix}_{s}") for s in SERVICES}
    try:
        kafka.start()
        for name in urls.values():
            database = name.rsplit("/", 1)[1]
            asyncio.run(admin_sql(own_postgres.admin_url, f'CREATE DATABASE "{database}"'))
        suite = Suite(
            var_dir=home / "suite",
            base_port=free_port_block(5),
            bootstrap_servers=kafka.bootstrap,
            database_urls=urls,
            extra_env={
                "XINFANG_TOPIC_PREFIX": prefix,
                "XINFANG_ENV": "test",
                # The query-code hash is two thirds of a submission's CPU and none of what
                # these tests are about: a lighter one lets them submit more in the time.
                "XINFANG_QUERY_CODE_SCRYPT_N": "1024",
            },
        )
        try:
            suite.var_dir.mkdir(parents=True, exist_ok=True)
            suite.start_broker()  # waits for Kafka and creates the topics
            suite.start_services()
            yield World(suite, kafka, own_postgres, urls)
            print(f"\n[fault suite] CPU seconds: {cpu_seconds(suite)}")
        finally:
            suite.stop()
    finally:
        kafka.close()
