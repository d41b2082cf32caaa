"""End-to-end benchmark on PostgreSQL and Apache Kafka, through the gateway.

Starts the four services and the gateway as real processes (``services.launcher.Suite``, free
loopback ports) on scratch PostgreSQL databases (``XINFANG_BENCH_POSTGRES_URL``, an admin DSN;
one database per service, dropped at the end) and the Apache Kafka broker of
``XINFANG_KAFKA_BOOTSTRAP_SERVERS`` (topics under a unique ``bench<hex>`` prefix, deleted at the
end), and a bare FastAPI + uvicorn app on the same machine as the baseline. Measures in one run,
with the same client and concurrency for the platform and its baseline:

1. submissions: ``POST /api/v1/petitions`` through the gateway, requests/s and p50/p99;
   baseline: a POST of the same JSON body to the bare app (answers 201 with a body like
   intake's);
2. 201 -> routed and visible: for every submission of 1, from its 201 to the first
   ``GET /api/v1/cases/{tracking number}`` showing status ``routed`` (polled while 1 runs), and
   the same by the services' own clocks (timeline ``received`` -> ``routed``); baseline: a
   message through two Kafka hops (produce -> consume -> produce -> consume, the services'
   producer settings, on the same broker), the two hops a petition takes to be routed;
3. case reads: ``GET /api/v1/cases/{tracking number}`` (owner token) through the gateway over
   the cases of 1, requests/s and p50/p99; baseline: the same GET on the bare app answering the
   same case JSON;
4. memory of each process: RSS, USS and PSS (``/proc/<pid>/smaps_rollup``) of the gateway, the
   four services, the bare app, the Kafka JVM and PostgreSQL (its postmaster, and the backends
   serving the scratch databases, per service) idle after start-up, at the end of the load, and
   at their peak during it (sampled every second; ``VmHWM`` for the peak RSS of one process);
   and the CPU seconds each used during the submissions and during the reads.

Run from the repository root (``make bench`` runs it with the other benchmarks)::

    XINFANG_BENCH_POSTGRES_URL=postgresql+asyncpg://xinfang:xinfang@127.0.0.1:5432/postgres \\
    XINFANG_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092 .venv/bin/python bench/e2e.py [--json]
"""

from __future__ import annotations

import os
import sys

# Run as ``python bench/e2e.py``, this file's directory is first on sys.path, where
# bench/intake.py and others would shadow the service packages: take it off.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from aiokafka import AIOKafkaConsumer, TopicPartition  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from services.devkit import create_scratch_database, drop_scratch_database  # noqa: E402
from services.launcher import ORDER, Suite  # noqa: E402
from shared.auth import mint_token  # noqa: E402
from shared.messaging import kafka  # noqa: E402
from shared.settings import SERVICES, CommonSettings  # noqa: E402

POSTGRES_ENV = "XINFANG_BENCH_POSTGRES_URL"
KAFKA_ENV = "XINFANG_KAFKA_BOOTSTRAP_SERVERS"
SAMPLE_EVERY = 1.0  # seconds between two memory samples during the load


def _submit_flow() -> Any:
    """bench/submit_flow.py: load generator, poller, bare app, suite (not importable by name)."""
    spec = importlib.util.spec_from_file_location("submit_flow", Path(_HERE) / "submit_flow.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["submit_flow"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


flow = _submit_flow()


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _ratio(a: float | None, b: float | None, digits: int = 2) -> float | None:
    if a is None or b is None or b == 0 or math.isnan(a) or math.isnan(b):
        return None
    return round(a / b, digits)


# -- processes: memory and CPU from /proc (Linux) --


def _kb_fields(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            out[key] = int(parts[0])
    return out


def memory(pid: int) -> dict[str, float] | None:
    """RSS, peak RSS (VmHWM), USS (private pages) and PSS of one process, in MB; None if it is
    gone. USS and PSS need smaps_rollup (Linux 4.14+) and the right to read it."""
    try:
        status = _kb_fields(Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return None
    out = {
        "rss_mb": round(status.get("VmRSS", 0) / 1024, 1),
        "hwm_mb": round(status.get("VmHWM", 0) / 1024, 1),
    }
    try:
        rollup = _kb_fields(Path(f"/proc/{pid}/smaps_rollup").read_text())
    except OSError:
        return out
    out["uss_mb"] = round((rollup["Private_Clean"] + rollup["Private_Dirty"]) / 1024, 1)
    out["pss_mb"] = round(rollup["Pss"] / 1024, 1)
    return out


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process so far."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def listening_pid(port: int) -> int | None:
    """The process listening on TCP ``port`` (any local address), from /proc/net/tcp{,6}."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{cols[9]}]")
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        return int(entry.name)
        except OSError:
            continue
    return None


def kafka_version(pid: int | None) -> str | None:
    """Apache Kafka's version from the broker's class path (kafka_2.13-<version>.jar)."""
    if pid is None:
        return None
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    for i, arg in enumerate(args[:-1]):
        if arg in (b"-cp", b"-classpath"):
            for part in args[i + 1].decode().split(":"):
                folder = Path(part.rstrip("*")) if part.endswith("*") else Path(part).parent
                for jar in sorted(folder.glob("kafka_2.13-*.jar")):
                    name = jar.name.removeprefix("kafka_2.13-").removesuffix(".jar")
                    if name[:1].isdigit() and "-" not in name:
                        return name
    return None


@dataclass
class Monitor:
    """The processes to watch: fixed ones by pid, and PostgreSQL backends per scratch database
    (looked up in pg_stat_activity, since they come and go with the connection pools)."""

    pids: dict[str, int]
    databases: dict[str, str]  # service -> scratch database name
    admin: asyncpg.Connection | None = None
    backends: dict[str, list[int]] = field(default_factory=dict)
    peaks: dict[str, dict[str, float]] = field(default_factory=dict)
    samples: int = 0

    async def refresh_backends(self) -> None:
        if self.admin is None:
            return
        rows = await self.admin.fetch(
            "SELECT pid, datname FROM pg_stat_activity WHERE datname = ANY($1::text[])",
            list(self.databases.values()),
        )
        by_db = {db: service for service, db in self.databases.items()}
        self.backends = {service: [] for service in self.databases}
        for row in rows:
            self.backends[by_db[row["datname"]]].append(row["pid"])

    def snapshot(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, pid in self.pids.items():
            m = memory(pid)
            if m is not None:
                out[name] = {"pid": pid, **m}
        for service, pids in self.backends.items():
            total: dict[str, Any] = {"backends": 0}
            for pid in pids:
                m = memory(pid)
                if m is None:
                    continue
                total["backends"] += 1
                for key in ("rss_mb", "uss_mb", "pss_mb"):
                    if key in m:
                        total[key] = round(total.get(key, 0.0) + m[key], 1)
            out[f"postgres backends: {service}"] = total
        return out

    def cpu(self) -> dict[str, float]:
        out = {}
        for name, pid in self.pids.items():
            seconds = cpu_seconds(pid)
            if seconds is not None:
                out[name] = seconds
        for service, pids in self.backends.items():
            seconds = [cpu_seconds(pid) for pid in pids]
            out[f"postgres backends: {service}"] = sum(s for s in seconds if s is not None)
        return out

    def record(self, snap: dict[str, dict[str, Any]]) -> None:
        self.samples += 1
        for name, m in snap.items():
            peak = self.peaks.setdefault(name, {})
            for key in ("rss_mb", "uss_mb", "pss_mb"):
                if key in m:
                    peak[key] = max(peak.get(key, 0.0), m[key])

    async def sample(self, stop: asyncio.Event) -> None:
        """Every second until ``stop``: memory of every process, the maxima kept; the list of
        PostgreSQL backends refreshed every fifth sample."""
        while not stop.is_set():
            if self.samples % 5 == 0:
                with contextlib.suppress(Exception):
                    await self.refresh_backends()
            self.record(self.snapshot())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE_EVERY)


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: round(after[k] - before.get(k, 0.0), 2) for k in after}


# -- baseline: two Kafka hops --


async def kafka_hops(settings: CommonSettings, count: int, warmup: int) -> flow.Phase:
    """``count`` messages, one at a time, produced to a topic, consumed and produced to a
    second topic, consumed there: the two broker hops a petition takes from intake to being
    routed (intake -> routing -> tracking), with the services' producer settings (acks=all)
    and their consumer's fetch wait, without any database."""
    prefix = settings.topic_prefix
    hop1, hop2 = f"{prefix}.bench.hop1", f"{prefix}.bench.hop2"
    await kafka.ensure_topics(settings, [hop1, hop2], "xinfang-bench")
    producer = kafka.producer(settings, "xinfang-bench-hops")
    consumers = []
    for _ in (hop1, hop2):
        c = AIOKafkaConsumer(
            **kafka.connection(settings),
            client_id="xinfang-bench-hops",
            enable_auto_commit=False,
            fetch_max_wait_ms=100,  # as shared.messaging.consumer
            max_poll_records=200,
        )
        consumers.append(c)
    phase = flow.Phase("two Kafka hops")
    try:
        await producer.start()
        for c, topic in zip(consumers, (hop1, hop2), strict=True):
            await c.start()
            tps = [TopicPartition(topic, p) for p in await _partitions(settings, topic)]
            c.assign(tps)
            await c.seek_to_end(*tps)
            for tp in tps:
                await c.position(tp)
        relay, sink = consumers
        arrived: dict[bytes, float] = {}
        waiting: dict[bytes, asyncio.Event] = {}
        stop = asyncio.Event()

        async def forward() -> None:
            while not stop.is_set():
                batches = await relay.getmany(timeout_ms=500, max_records=200)
                for records in batches.values():
                    for r in records:
                        await producer.send_and_wait(hop2, r.value, key=r.key)

        async def receive() -> None:
            while not stop.is_set():
                batches = await sink.getmany(timeout_ms=500, max_records=200)
                now = time.perf_counter()
                for records in batches.values():
                    for r in records:
                        arrived[r.value] = now
                        if r.value in waiting:
                            waiting[r.value].set()

        tasks = [asyncio.create_task(forward()), asyncio.create_task(receive())]
        try:
            for i in range(warmup + count):
                key = uuid.uuid4().hex.encode()
                waiting[key] = event = asyncio.Event()
                started = time.perf_counter()
                await producer.send_and_wait(hop1, key, key=key)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), 30)
                waiting.pop(key, None)
                if key not in arrived:
                    phase.errors.append("not through two hops in 30 s")
                elif i >= warmup:
                    phase.latencies.append(arrived[key] - started)
        finally:
            stop.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for c in consumers:
            with contextlib.suppress(Exception):
                await c.stop()
        with contextlib.suppress(Exception):
            await producer.stop()
        with contextlib.suppress(Exception):
            client = kafka.admin(settings, "xinfang-bench")
            await client.start()
            try:
                await client.delete_topics([hop1, hop2])
            finally:
                await client.close()
    return phase


async def _partitions(settings: CommonSettings, topic: str) -> list[int]:
    for _ in range(50):
        found = await kafka.partitions(settings, topic, "xinfang-bench")
        if found:
            return found
        await asyncio.sleep(0.2)
    raise RuntimeError(f"topic {topic} has no partitions")


# -- the run --


async def measure(
    suite: Suite, monitor: Monitor, var_dir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    gateway = suite.url("gateway")
    owner = {
        "Authorization": "Bearer "
        + mint_token(CommonSettings(), role="petitioner", sub=f"bench-{uuid.uuid4().hex[:12]}")
    }
    out: dict[str, Any] = {}
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=64)
    timeout = httpx.Timeout(30.0)
    c = args.concurrency

    await monitor.refresh_backends()
    say(f"idle: waiting {args.settle:g} s after start-up, then reading memory ...")
    await asyncio.sleep(args.settle)
    await monitor.refresh_backends()
    idle = monitor.snapshot()

    async with (
        httpx.AsyncClient(base_url=gateway, limits=limits, timeout=timeout) as client,
        httpx.AsyncClient(base_url=gateway, timeout=timeout) as poll_client,
    ):
        say(f"warm-up: {args.warmup} health checks, submissions (routed) and reads ...")
        warm = flow.Poller(poll_client, owner, in_flight=args.poll_concurrency)
        created: list[dict[str, Any]] = []

        def keep(response: httpx.Response, at: float) -> None:
            created.append(response.json())
            warm.submitted(response, at)

        await flow.run_load(
            flow.Phase("warm-up"), args.warmup, c, lambda: client.get("/healthz"), 200
        )
        await flow.warm_up_submissions(client, owner, args.warmup, c, keep)
        done = asyncio.Event()
        done.set()
        try:
            await asyncio.wait_for(warm.run(done), args.timeout)
        except TimeoutError:
            raise RuntimeError(f"{len(warm.pending)} warm-up petition(s) not routed") from None
        warm_numbers = [p["tracking_number"] for p in created]
        r = await client.get(f"/api/v1/cases/{warm_numbers[0]}", headers=owner)
        r.raise_for_status()
        case_body = r.json()

        say("starting the bare FastAPI + uvicorn app (baseline) ...")
        raw, raw_url = await asyncio.to_thread(
            flow.start_raw, case_body, var_dir / "logs" / "raw.log", created[0]
        )
        try:
            monitor.pids["bare FastAPI app (baseline)"] = raw.pid
            await asyncio.sleep(min(args.settle, 2.0))
            idle.update(
                {k: v for k, v in monitor.snapshot().items() if k == "bare FastAPI app (baseline)"}
            )
            out.update(
                await load_phases(
                    suite.settings(), client, poll_client, raw_url, owner, monitor, args
                )
            )
        finally:
            raw.terminate()
            await asyncio.to_thread(raw.wait, 10)
        out["case_body_bytes"] = len(json.dumps(case_body, ensure_ascii=False).encode())
        out["petition_body_bytes"] = len(
            json.dumps(flow.petition_body(), ensure_ascii=False).encode()
        )

    out["memory"]["idle"] = idle
    return out


async def load_phases(
    settings: CommonSettings,
    client: httpx.AsyncClient,
    poll_client: httpx.AsyncClient,
    raw_url: str,
    owner: dict[str, str],
    monitor: Monitor,
    args: argparse.Namespace,
) -> dict[str, Any]:
    c = args.concurrency
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=64)
    out: dict[str, Any] = {}

    async def bounded(coro: Any) -> None:
        await asyncio.wait_for(coro, args.timeout)

    say(f"baseline: {args.hops} messages through two Kafka hops, one at a time ...")
    hops = await kafka_hops(settings, args.hops, 20)

    stop_sampling = asyncio.Event()
    sampler = asyncio.create_task(monitor.sample(stop_sampling))
    try:
        async with httpx.AsyncClient(base_url=raw_url, limits=limits, timeout=30.0) as raw:
            await flow.run_load(
                flow.Phase("warm-up"),
                args.warmup,
                c,
                lambda: raw.post("/api/v1/petitions", json=flow.petition_body(), headers=owner),
                201,
            )
            say(f"baseline: {args.count} POSTs to the bare app at concurrency {c} ...")
            raw_post = flow.Phase("bare POST")
            cpu_before = monitor.cpu()
            await bounded(
                flow.run_load(
                    raw_post,
                    args.count,
                    c,
                    lambda: raw.post("/api/v1/petitions", json=flow.petition_body(), headers=owner),
                    201,
                    None,
                    args.max_seconds,
                )
            )
            cpu_raw_post = cpu_used(cpu_before, monitor.cpu())

        say(f"{args.count} submissions through the gateway at concurrency {c}, polling ...")
        post = flow.Phase("POST /api/v1/petitions")
        poller = flow.Poller(poll_client, owner, in_flight=args.poll_concurrency)
        numbers: list[str] = []

        def submitted(response: httpx.Response, at: float) -> None:
            numbers.append(response.json()["tracking_number"])
            poller.submitted(response, at)

        stop = asyncio.Event()
        polling = asyncio.create_task(poller.run(stop))
        cpu_before = monitor.cpu()
        try:
            await bounded(
                flow.run_load(
                    post,
                    args.count,
                    c,
                    lambda: client.post(
                        "/api/v1/petitions", json=flow.petition_body(), headers=owner
                    ),
                    201,
                    submitted,
                    args.max_seconds,
                )
            )
            post_end = time.perf_counter()
            cpu_submit = cpu_used(cpu_before, monitor.cpu())
            polls_during_post = poller.polls
            stop.set()
            drained = True
            try:
                await asyncio.wait_for(asyncio.shield(polling), args.timeout)
            except TimeoutError:
                drained = False
        finally:
            stop.set()
            polling.cancel()
            await asyncio.gather(polling, return_exceptions=True)
        after_submit = monitor.snapshot()

        if not numbers:
            raise RuntimeError("no submission succeeded")
        picks = iter(range(10**9))

        def read(http: httpx.AsyncClient) -> Any:
            return http.get(f"/api/v1/cases/{numbers[next(picks) % len(numbers)]}", headers=owner)

        async with httpx.AsyncClient(base_url=raw_url, limits=limits, timeout=30.0) as raw:
            await flow.run_load(flow.Phase("warm-up"), args.warmup, c, lambda: read(raw), 200)
            say(f"baseline: {args.reads} GETs on the bare app at concurrency {c} ...")
            raw_get = flow.Phase("bare GET")
            cpu_before = monitor.cpu()
            await bounded(
                flow.run_load(
                    raw_get, args.reads, c, lambda: read(raw), 200, None, args.max_seconds
                )
            )
            cpu_raw_get = cpu_used(cpu_before, monitor.cpu())

        await flow.run_load(flow.Phase("warm-up"), args.warmup, c, lambda: read(client), 200)
        say(f"{args.reads} case reads through the gateway at concurrency {c} ...")
        gets = flow.Phase("GET /api/v1/cases/{n}")
        cpu_before = monitor.cpu()
        await bounded(
            flow.run_load(gets, args.reads, c, lambda: read(client), 200, None, args.max_seconds)
        )
        cpu_reads = cpu_used(cpu_before, monitor.cpu())
        await monitor.refresh_backends()
        loaded = monitor.snapshot()
        monitor.record(loaded)
    finally:
        stop_sampling.set()
        await asyncio.gather(sampler, return_exceptions=True)

    routed = flow.Phase("201 -> routed", latencies=list(poller.routed.values()))
    routed.errors = [f"not routed within {args.timeout:g} s"] * len(poller.pending)
    server = flow.Phase("received -> routed (server)", latencies=poller.server)
    all_routed = drained and not poller.pending
    drain = max(0.0, poller.routed_at - post_end) if all_routed else math.nan
    rounds_ms = [v * 1000 for v in poller.rounds]
    hwm = {
        name: m["hwm_mb"] for name, m in loaded.items() if "hwm_mb" in m
    }  # peak RSS of one process since it started, from the kernel
    out["submit"] = {
        "raw": raw_post.summary(),
        "gateway": post.summary(),
        "ratios": _ratios(post, raw_post),
    }
    routed_s = flow.latency_only(routed.summary())
    hops_s = flow.latency_only(hops.summary())
    out["routed"] = {
        "client": routed_s,
        "server_clocks": flow.latency_only(server.summary()),
        "kafka_two_hops": hops_s,
        "ratios": {
            "p50": _ratio(routed_s["p50_ms"], hops_s["p50_ms"], 1),
            "p99": _ratio(routed_s["p99_ms"], hops_s["p99_ms"], 1),
        },
        "drain": {
            "all_routed": all_routed,
            "seconds_after_last_201": None if math.isnan(drain) else round(drain, 3),
        },
        "polling": {
            "every_ms": flow.POLL_EVERY * 1000,
            "max_in_flight": args.poll_concurrency,
            "gets_during_post_phase": polls_during_post,
            "gets_total": poller.polls,
            "errors": poller.poll_errors,
            "round_p50_ms": flow._round(flow.percentile(rounds_ms, 50)),
            "round_max_ms": flow._round(max(rounds_ms) if rounds_ms else math.nan),
        },
    }
    out["reads"] = {
        "raw": raw_get.summary(),
        "gateway": gets.summary(),
        "ratios": _ratios(gets, raw_get),
        "cases": len(numbers),
    }
    out["memory"] = {
        "after_submissions": after_submit,
        "loaded": loaded,
        "peak_sampled": monitor.peaks,
        "peak_rss_hwm_mb": hwm,
        "samples": monitor.samples,
        "sample_every_s": SAMPLE_EVERY,
    }
    out["cpu_seconds"] = {
        "bare_posts": cpu_raw_post,
        "bare_gets": cpu_raw_get,
        "submissions": cpu_submit,
        "submissions_wall_s": round(post.wall, 2),
        "reads": cpu_reads,
        "reads_wall_s": round(gets.wall, 2),
    }
    out["ok"] = all_routed and not (
        raw_post.errors or post.errors or raw_get.errors or gets.errors or hops.errors
    )
    return out


def _ratios(ours: flow.Phase, base: flow.Phase) -> dict[str, float | None]:
    a, b = ours.summary(), base.summary()
    return {
        "throughput": _ratio(a["requests_per_second"], b["requests_per_second"], 4),
        "p50": _ratio(a["p50_ms"], b["p50_ms"], 1),
        "p99": _ratio(a["p99_ms"], b["p99_ms"], 1),
    }


# -- output --


def _fmt(value: float | None, spec: str = ",.1f") -> str:
    return "-" if value is None else format(value, spec)


def print_table(result: dict[str, Any]) -> None:
    setup = result["setup"]
    print(f"Xinfang end-to-end benchmark ({setup['started']})")
    for key, value in setup.items():
        if key != "started":
            print(f"  {key}: {value}")
    print()
    header = f"{'phase':<40}{'ok':>6}{'err':>5}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    print(header)
    print("-" * len(header))
    rows = [
        ("POST, bare FastAPI app (baseline)", result["submit"]["raw"]),
        ("POST /api/v1/petitions (gateway)", result["submit"]["gateway"]),
        ("two Kafka hops (baseline)", result["routed"]["kafka_two_hops"]),
        ("201 -> GET shows routed", result["routed"]["client"]),
        ("  received -> routed (server clocks)", result["routed"]["server_clocks"]),
        ("GET, bare FastAPI app (baseline)", result["reads"]["raw"]),
        ("GET /api/v1/cases/{n} (gateway)", result["reads"]["gateway"]),
    ]
    for name, s in rows:
        print(
            f"{name:<40}{s['ok']:>6}{s['errors']:>5}{_fmt(s.get('requests_per_second')):>9}"
            f"{_fmt(s['p50_ms']):>9}{_fmt(s['p99_ms']):>9}{_fmt(s['max_ms']):>9}"
        )
    print()
    for key in ("submit", "routed", "reads"):
        print(f"ratios over the baseline, {key}: {result[key]['ratios']}")
    drain = result["routed"]["drain"]
    print(f"drain: all routed {drain['all_routed']}, {drain['seconds_after_last_201']} s after")
    mem = result["memory"]
    print()
    print(
        f"{'process':<36}{'idle RSS':>10}{'idle USS':>10}{'end RSS':>10}{'end USS':>10}"
        f"{'peak RSS':>10}{'peak USS':>10}{'CPU s':>8}"
    )
    cpu = result["cpu_seconds"]
    for name in mem["loaded"]:
        idle, end = mem["idle"].get(name, {}), mem["loaded"][name]
        peak = mem["peak_sampled"].get(name, {})
        used = cpu["submissions"].get(name, 0) + cpu["reads"].get(name, 0)
        print(
            f"{name:<36}{_fmt(idle.get('rss_mb')):>10}{_fmt(idle.get('uss_mb')):>10}"
            f"{_fmt(end.get('rss_mb')):>10}{_fmt(end.get('uss_mb')):>10}"
            f"{_fmt(mem['peak_rss_hwm_mb'].get(name, peak.get('rss_mb'))):>10}"
            f"{_fmt(peak.get('uss_mb')):>10}{used:>8.1f}"
        )
    for _, s in rows:
        for sample in s["error_samples"]:
            print(f"  error: {sample}")


# -- main --


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=1000, help="submissions (1000)")
    p.add_argument("--reads", type=int, default=2000, help="case reads (2000)")
    p.add_argument("--concurrency", type=int, default=8, help="concurrent clients (8)")
    p.add_argument("--warmup", type=int, default=16, help="warm-up requests per phase (16)")
    p.add_argument("--hops", type=int, default=200, help="messages through two Kafka hops (200)")
    p.add_argument("--poll-concurrency", type=int, default=4, help="poller GETs in flight (4)")
    p.add_argument("--settle", type=float, default=5.0, help="idle seconds before memory (5)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds a phase may take")
    p.add_argument(
        "--max-seconds",
        type=float,
        help="send no more requests of a load phase after this many seconds (default: none)",
    )
    p.add_argument(
        "--upstream-timeout",
        type=float,
        help="the gateway's XINFANG_UPSTREAM_TIMEOUT_SECONDS (default: its own, 10 s)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.add_argument("--keep", action="store_true", help="keep the suite's directory (logs)")
    args = p.parse_args(argv)
    for name in ("count", "reads", "concurrency", "warmup", "hops", "poll_concurrency"):
        if not 1 <= getattr(args, name) <= 100_000:
            p.error(f"--{name.replace('_', '-')} must be between 1 and 100000")
    return args


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    admin, bootstrap = os.environ.get(POSTGRES_ENV), os.environ.get(KAFKA_ENV)
    if not admin or not bootstrap:
        say(
            f"set {POSTGRES_ENV} (an admin DSN) and {KAFKA_ENV} (an Apache Kafka broker): this "
            "benchmark runs on both (make bench starts them; bench/submit_flow.py runs on the "
            "embedded broker and SQLite)"
        )
        return 2
    # SIGTERM (make bench's time limit, kill) ends the run through the finally blocks below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    var_dir = Path(tempfile.mkdtemp(prefix="xinfang-bench-e2e-"))
    suite, setup = flow.make_suite(var_dir)
    suite.die_with_parent = True
    if args.upstream_timeout:
        suite.extra_env["XINFANG_UPSTREAM_TIMEOUT_SECONDS"] = f"{args.upstream_timeout:g}"
        setup["gateway upstream timeout"] = f"{args.upstream_timeout:g} s (10 s by default)"
    result: dict[str, Any] = {
        "setup": {
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
            **setup,
        },
        "count": args.count,
        "reads_count": args.reads,
        "concurrency": args.concurrency,
        "hops_count": args.hops,
        "max_seconds": args.max_seconds,
        "load_before": load_average(),
    }
    ok = False
    pg_port = make_url(admin).port or 5432
    admin_dsn = make_url(admin).set(drivername="postgresql").render_as_string(False)
    try:
        databases = {}
        for service in SERVICES:
            url = asyncio.run(create_scratch_database(admin, "xfe2e"))
            suite.database_urls[service] = url
            databases[service] = make_url(url).database
        result["setup"]["databases"] = (
            f"PostgreSQL at {make_url(admin).host}:{pg_port}, scratch databases "
            + ", ".join(databases.values())
        )
        say(f"starting the suite (Kafka at {bootstrap}, PostgreSQL) ...")
        started = time.perf_counter()
        suite.start()
        result["startup_seconds"] = round(time.perf_counter() - started, 2)
        kafka_pid = listening_pid(int(bootstrap.split(",")[0].rsplit(":", 1)[1]))
        pids = {name: suite.members[name].proc.pid for name in ORDER}  # type: ignore[union-attr]
        if kafka_pid is not None:
            pids["Kafka broker (JVM)"] = kafka_pid
        postmaster = listening_pid(pg_port)
        if postmaster is not None:
            pids["PostgreSQL postmaster"] = postmaster
        result["setup"]["kafka_version"] = kafka_version(kafka_pid)

        async def run() -> dict[str, Any]:
            conn = await asyncpg.connect(admin_dsn)
            try:
                result["setup"]["postgresql_version"] = await conn.fetchval("SHOW server_version")
                monitor = Monitor(pids, databases, conn)
                return await measure(suite, monitor, var_dir, args)
            finally:
                await conn.close()

        result.update(asyncio.run(run()))
        result["load_after"] = load_average()
        ok = result["ok"]
        if args.json:
            print(json.dumps(result, indent=2, ensure_ascii=False))
        else:
            print_table(result)
        return 0 if ok else 1
    except (RuntimeError, TimeoutError, OSError, subprocess.SubprocessError) as exc:
        say(f"benchmark failed: {type(exc).__name__}: {exc}")
        return 1
    finally:
        # Cleaning up: a second SIGTERM must not cut it short (SIGKILL still would).
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        suite.stop()
        try:
            asyncio.run(flow.delete_topics(suite))
        except Exception as exc:  # the measurement stands; say what was left behind
            say(f"could not delete the bench topics: {exc!r}")
        for url in suite.database_urls.values():
            try:
                asyncio.run(drop_scratch_database(admin, url))
            except Exception as exc:
                say(f"could not drop {make_url(url).database}: {exc!r}")
        if ok and not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)
        else:
            say(f"suite directory (logs): {var_dir}")


if __name__ == "__main__":
    raise SystemExit(main())
