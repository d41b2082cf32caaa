"""The embedded path exactly as `make run` starts it: `xinfang up` with tansu and SQLite.

Runs whatever the Kafka and PostgreSQL settings say (CI runs it too), and checks that a
restart of the embedded suite, whose broker forgets everything, loses nothing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from shared.settings import CommonSettings
from tests.conftest import free_port, free_port_block
from tests.e2e.conftest import petition, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

XINFANG = str(Path(sys.executable).parent / "xinfang")


def embedded_env() -> dict[str, str]:
    drop = ("XINFANG_KAFKA_BOOTSTRAP_SERVERS", "XINFANG_TOPIC_PREFIX")
    return {
        k: v for k, v in os.environ.items() if k not in drop and not k.endswith("_DATABASE_URL")
    }


class Up:
    def __init__(self, var_dir: Path) -> None:
        self.var_dir, self.base, self.broker_port = var_dir, free_port_block(5), free_port()
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.base}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                XINFANG,
                "up",
                "--embedded-broker",
                "--var-dir",
                str(self.var_dir),
                "--base-port",
                str(self.base),
                "--broker-port",
                str(self.broker_port),
            ],
            env=embedded_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def status_ok() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                out = self.proc.stdout.read() if self.proc.stdout else ""
                raise AssertionError(f"xinfang up exited {self.proc.returncode}: {out[-4000:]}")
            try:
                return httpx.get(f"{self.url}/status", timeout=5).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(status_ok, timeout=90, every=0.5)

    def stop(self) -> str:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        out, _ = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, out
        return out


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    u = Up(tmp_path / "var")
    yield u
    if u.proc and u.proc.poll() is None:  # a failed test: stop the suite as Ctrl-C would
        u.proc.send_signal(signal.SIGINT)
        try:
            u.proc.wait(60)
        except subprocess.TimeoutExpired:
            u.proc.kill()
            u.proc.wait()


def cli_token(*args: str) -> dict[str, str]:
    out = subprocess.run(
        [XINFANG, "token", *args], capture_output=True, text=True, check=True, env=embedded_env()
    )
    return {"Authorization": f"Bearer {out.stdout.strip()}"}


def routed(client: httpx.Client, number: str, headers: dict[str, str]) -> dict:  # type: ignore[type-arg]
    def check():  # type: ignore[no-untyped-def]
        r = client.get(f"/api/v1/cases/{number}", headers=headers)
        return r.json() if r.status_code == 200 and r.json()["status"] == "routed" else None

    return wait_for(check, timeout=60)


async def intake_events(bootstrap: str) -> list[dict]:  # type: ignore[type-arg]
    topic = CommonSettings().topic("intake")
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    events: list[dict] = []  # type: ignore[type-arg]
    try:
        for _ in range(6):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                events += [json.loads(r.value) for r in records]
    finally:
        await consumer.stop()
    return events


def test_xinfang_up_serves_the_flow_and_a_restart_loses_nothing(up: Up) -> None:
    up.start()
    owner = cli_token("--role", "petitioner", "--sub", "embedded-user")
    with httpx.Client(base_url=up.url, timeout=30) as client:
        created = client.post("/api/v1/petitions", json=petition(), headers=owner)
        assert created.status_code == 201, created.text
        first = created.json()
        assert routed(client, first["tracking_number"], owner)["unit"]["id"] == "110107:hrss"
    out = up.stop()
    assert "stopped" in out

    up.start()  # same SQLite files; a new, empty broker
    with httpx.Client(base_url=up.url, timeout=30) as client:
        second = client.post("/api/v1/petitions", json=petition(), headers=owner).json()
        routed(client, second["tracking_number"], owner)
        old = routed(client, first["tracking_number"], owner)
        assert [e["status"] for e in old["timeline"]] == ["received", "routed"]
        # the relay republished what the forgetful broker lost
        events = wait_for(
            lambda: [
                e
                for e in asyncio.run(intake_events(f"127.0.0.1:{up.broker_port}"))
                if e["subject"] == first["petition_id"]
            ],
            timeout=60,
            every=1,
        )
        assert events[0]["type"] == "intake.petition.submitted.v1"
        assert "张三" not in json.dumps(events[0], ensure_ascii=False)
        assert "13812345678" not in json.dumps(events[0])
        mine = client.get("/api/v1/me/cases", headers=owner).json()["items"]
        assert len(mine) == 2
    up.stop()
