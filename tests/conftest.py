"""What every test level shares: settings that must be present, and free ports.

Outside CI a test that needs PostgreSQL or Kafka skips with a message naming the missing
setting; under ``CI=true`` it fails instead."""

from __future__ import annotations

import os

import pytest

from services.launcher import free_port, free_port_block  # noqa: F401 - re-exported

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(setting: str, what: str) -> str:
    value = os.environ.get(setting)
    if value:
        return value
    message = f"{what} needs {setting}; set it (as .ci/run does) to run this test"
    if IN_CI:
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def bootstrap_servers(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Apache Kafka when XINFANG_KAFKA_BOOTSTRAP_SERVERS is set, else an embedded tansu
    started for this test session on a free port."""
    external = os.environ.get("XINFANG_KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    if IN_CI:
        pytest.fail(
            "CI=true: the tests need XINFANG_KAFKA_BOOTSTRAP_SERVERS (Apache Kafka)", pytrace=False
        )
    from pathlib import Path

    from services.launcher import Suite

    suite = Suite(var_dir=Path(tmp_path_factory.mktemp("broker")), broker_port=free_port())
    suite.start_broker()
    yield suite.bootstrap
    suite.stop()
