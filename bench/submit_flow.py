"""Submit-flow benchmark: the whole suite as real processes, measured through the gateway.

Starts its own suite (embedded tansu broker, four services, gateway) on free loopback ports
with SQLite databases in a temporary directory, then measures in one run:

1. ``GET /healthz`` through the gateway: the baseline (requests/s, p50/p95 latency);
2. ``POST /api/v1/petitions`` through the gateway, same concurrency and count;
3. submit-to-routed: for every petition of phase 2, the time from its 201 to the first
   ``GET /api/v1/cases/{tracking number}`` (owner token) that shows status ``routed``, polled
   every 20 ms by a separate client while phase 2 runs; and the drain time until all are routed.

Run from the repository root: ``make bench`` or ``.venv/bin/python bench/submit_flow.py
[--count N] [--concurrency C] [--json]``. With ``XINFANG_KAFKA_BOOTSTRAP_SERVERS`` set it uses
that broker instead of tansu (topics under a unique ``bench<hex>`` prefix, deleted at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from services.devkit import percentile
from services.launcher import Suite, free_port, free_port_block
from shared.auth import mint_token
from shared.messaging import kafka
from shared.settings import SERVICES, CommonSettings

POLL_EVERY = 0.020  # seconds between two polls of one case


# -- statistics --


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0  # seconds from the first request sent to the last response

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.ok / self.wall if self.wall > 0 else math.nan

    def summary(self) -> dict[str, Any]:
        ms = [v * 1000 for v in self.latencies]
        return {
            "ok": self.ok,
            "errors": len(self.errors),
            "error_samples": sorted(set(self.errors))[:5],
            "seconds": round(self.wall, 3),
            "requests_per_second": _round(self.rps),
            "p50_ms": _round(percentile(ms, 50)),
            "p95_ms": _round(percentile(ms, 95)),
            "p99_ms": _round(percentile(ms, 99)),
            "max_ms": _round(max(ms) if ms else math.nan),
        }


def _round(value: float, digits: int = 2) -> float | None:
    return None if math.isnan(value) else round(value, digits)


# -- load --


def petition_body(region: str = "110107011") -> dict[str, Any]:
    """The body of tests/e2e/conftest.py ``petition()``: each call a different matter (a unique
    reference in its content), so that intake links none of them to another as a repeat."""
    return {
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


async def run_load(
    phase: Phase,
    count: int,
    concurrency: int,
    request: Callable[[], Awaitable[httpx.Response]],
    expect: int,
    on_ok: Callable[[httpx.Response, float], None] | None = None,
    seconds: float | None = None,
) -> None:
    """``count`` requests from ``concurrency`` workers, each sending its next one as soon as
    the previous answered (closed loop); with ``seconds``, none is sent after that many seconds
    (those in flight complete)."""
    remaining = count
    stop_at = math.inf if seconds is None else time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0 and time.perf_counter() < stop_at:
            remaining -= 1
            start = time.perf_counter()
            try:
                r = await request()
            except httpx.HTTPError as exc:
                phase.errors.append(type(exc).__name__)
                continue
            done = time.perf_counter()
            if r.status_code != expect:
                phase.errors.append(f"HTTP {r.status_code}: {r.text[:120]}")
                continue
            phase.latencies.append(done - start)
            if on_ok is not None:
                on_ok(r, done)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase.wall = time.perf_counter() - started


WARMUP_ROUNDS = 3


async def warm_up_submissions(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    count: int,
    concurrency: int,
    on_ok: Callable[[httpx.Response, float], None],
) -> None:
    """Warm-up submissions. A cold suite on a busy machine may not answer the first ones in
    time (the gateway gives up after 10 s with a 503): up to three rounds, the later ones one
    request at a time, one of which must succeed in full."""
    errors: list[str] = []
    for attempt in range(WARMUP_ROUNDS):
        phase = Phase("warm-up")
        await run_load(
            phase,
            count,
            concurrency if attempt == 0 else 1,
            lambda: client.post("/api/v1/petitions", json=petition_body(), headers=headers),
            201,
            on_ok,
        )
        if not phase.errors:
            return
        errors = phase.errors
    raise RuntimeError(f"warm-up submissions failed {WARMUP_ROUNDS} times: {errors[:3]}")


def timeline_latency(case: dict[str, Any]) -> float | None:
    """Seconds from the timeline's received entry (intake's submission time) to its first
    routed entry (routing's decision time): the pipeline by the services' own clocks."""
    at: dict[str, datetime] = {}
    for entry in case.get("timeline") or []:
        if entry.get("status") in ("received", "routed") and entry["status"] not in at:
            at[entry["status"]] = datetime.fromisoformat(entry["at"])
    try:
        return (at["routed"] - at["received"]).total_seconds()
    except (KeyError, TypeError):
        return None


@dataclass
class Poller:
    """Polls each submitted case every 20 ms (at most ``in_flight`` GETs at a time) until it
    shows status routed; records the time from its 201 to that answer."""

    client: httpx.AsyncClient
    headers: dict[str, str]
    in_flight: int
    pending: dict[str, float] = field(default_factory=dict)  # tracking number -> 201 time
    routed: dict[str, float] = field(default_factory=dict)  # tracking number -> latency
    server: list[float] = field(default_factory=list)  # timeline: received -> routed
    rounds: list[float] = field(default_factory=list)  # seconds one poll round took
    routed_at: float = 0.0  # perf_counter of the last routed answer
    polls: int = 0
    poll_errors: int = 0

    def submitted(self, response: httpx.Response, at: float) -> None:
        self.pending[response.json()["tracking_number"]] = at

    async def _check(self, number: str, sem: asyncio.Semaphore) -> None:
        async with sem:
            self.polls += 1
            try:
                r = await self.client.get(f"/api/v1/cases/{number}", headers=self.headers)
            except httpx.HTTPError:
                self.poll_errors += 1
                return
            now = time.perf_counter()
        if r.status_code != 200:
            self.poll_errors += 1
            return
        case = r.json()
        if case.get("status") == "routed" and number in self.pending:
            self.routed[number] = now - self.pending.pop(number)
            self.routed_at = max(self.routed_at, now)
            server = timeline_latency(case)
            if server is not None:
                self.server.append(server)

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set and nothing is pending."""
        sem = asyncio.Semaphore(self.in_flight)
        while not (stop.is_set() and not self.pending):
            tick = time.perf_counter()
            numbers = list(self.pending)
            if numbers:
                await asyncio.gather(*(self._check(n, sem) for n in numbers))
                self.rounds.append(time.perf_counter() - tick)
            await asyncio.sleep(max(0.0, POLL_EVERY - (time.perf_counter() - tick)))


async def measure(gateway: str, args: argparse.Namespace) -> dict[str, Any]:
    owner = {
        "Authorization": "Bearer "
        + mint_token(CommonSettings(), role="petitioner", sub=f"bench-{uuid.uuid4().hex[:12]}")
    }
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=64)
    timeout = httpx.Timeout(30.0)
    async with (
        httpx.AsyncClient(base_url=gateway, limits=limits, timeout=timeout) as client,
        httpx.AsyncClient(base_url=gateway, timeout=timeout) as poll_client,
    ):
        # Warm-up: connections, database pools, consumers; and proof the flow works at all.
        warm = Poller(poll_client, owner, in_flight=args.poll_concurrency)
        stop = asyncio.Event()
        stop.set()
        await run_load(
            Phase("warm-up healthz"),
            args.warmup,
            args.concurrency,
            lambda: client.get("/healthz"),
            200,
        )
        await warm_up_submissions(client, owner, args.warmup, args.concurrency, warm.submitted)
        try:
            await asyncio.wait_for(warm.run(stop), args.timeout)
        except TimeoutError:
            raise RuntimeError(
                f"{len(warm.pending)} warm-up petition(s) not routed in {args.timeout:g} s"
            ) from None

        healthz = Phase("GET /healthz")
        await run_load(healthz, args.count, args.concurrency, lambda: client.get("/healthz"), 200)

        post = Phase("POST /api/v1/petitions")
        poller = Poller(poll_client, owner, in_flight=args.poll_concurrency)
        stop = asyncio.Event()
        polling = asyncio.create_task(poller.run(stop))
        try:
            await asyncio.wait_for(
                run_load(
                    post,
                    args.count,
                    args.concurrency,
                    lambda: client.post("/api/v1/petitions", json=petition_body(), headers=owner),
                    201,
                    poller.submitted,
                ),
                args.timeout,
            )
            post_end = time.perf_counter()
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

    routed = Phase("submit -> routed", latencies=list(poller.routed.values()))
    routed.errors = [f"not routed within {args.timeout:g} s"] * len(poller.pending)
    server = Phase("received -> routed (server)", latencies=poller.server)
    all_routed = drained and not poller.pending
    drain_after_last = max(0.0, poller.routed_at - post_end) if all_routed else math.nan
    rounds_ms = [v * 1000 for v in poller.rounds]
    return {
        "count": args.count,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
        "healthz": healthz.summary(),
        "post": post.summary(),
        "routed": latency_only(routed.summary()),
        "routed_server_clocks": latency_only(server.summary()),
        "drain": {
            "all_routed": all_routed,
            "seconds_after_last_201": _round(drain_after_last, 3),
            "seconds_from_first_post": _round(post.wall + drain_after_last, 3),
        },
        "polling": {
            "every_ms": POLL_EVERY * 1000,
            "max_in_flight": args.poll_concurrency,
            "gets_during_post_phase": polls_during_post,
            "gets_total": poller.polls,
            "errors": poller.poll_errors,
            "round_p50_ms": _round(percentile(rounds_ms, 50)),
            "round_max_ms": _round(max(rounds_ms) if rounds_ms else math.nan),
        },
        "ratios": {
            "post_rps_over_healthz_rps": _round(post.rps / healthz.rps, 4) if healthz.rps else None,
            "post_p50_over_healthz_p50": _round(
                percentile(post.latencies, 50) / percentile(healthz.latencies, 50), 2
            )
            if healthz.latencies and post.latencies
            else None,
        },
    }


def latency_only(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in ("requests_per_second", "seconds")}


# -- output --


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def print_table(result: dict[str, Any], setup: dict[str, str]) -> None:
    print(
        f"Xinfang submit-flow benchmark: {result['count']} requests per phase, "
        f"concurrency {result['concurrency']} ({result['warmup']} warm-up requests first)"
    )
    for key, value in setup.items():
        print(f"  {key}: {value}")
    print()
    header = f"{'phase':<32}{'ok':>6}{'err':>6}{'req/s':>10}{'p50 ms':>10}{'p95 ms':>10}"
    print(header + f"{'max ms':>10}")
    print("-" * (len(header) + 10))
    rows = [
        ("GET /healthz (gateway)", result["healthz"]),
        ("POST /api/v1/petitions", result["post"]),
        ("201 -> GET shows routed", result["routed"]),
        ("  received -> routed (server)", result["routed_server_clocks"]),
    ]
    for name, s in rows:
        print(
            f"{name:<32}{s['ok']:>6}{s['errors']:>6}{_fmt(s.get('requests_per_second')):>10}"
            f"{_fmt(s['p50_ms']):>10}{_fmt(s['p95_ms']):>10}{_fmt(s['max_ms']):>10}"
        )
    print()
    drain, polling, ratios = result["drain"], result["polling"], result["ratios"]
    if drain["all_routed"]:
        print(
            f"drain: all {result['routed']['ok']} routed "
            f"{_fmt(drain['seconds_after_last_201'], '.3f')} s after the last 201 "
            f"({_fmt(drain['seconds_from_first_post'], '.3f')} s after the first POST)"
        )
    else:
        print(f"drain: {result['routed']['errors']} petition(s) NOT routed in time")
    print(
        f"ratios: POST/healthz throughput {_fmt(ratios['post_rps_over_healthz_rps'], '.3f')}; "
        f"POST/healthz p50 latency {_fmt(ratios['post_p50_over_healthz_p50'], '.1f')}x"
    )
    print(
        f"polling: each pending case every {polling['every_ms']:.0f} ms, at most "
        f"{polling['max_in_flight']} GETs in flight; {polling['gets_during_post_phase']} GETs "
        f"ran during the POST phase ({polling['gets_total']} in all, "
        f"{polling['errors']} errors); a poll round took p50 "
        f"{_fmt(polling['round_p50_ms'])} ms, max {_fmt(polling['round_max_ms'])} ms"
    )
    for name, s in rows:
        for sample in s["error_samples"]:
            print(f"  {name} error: {sample}")


# -- the bare baseline app --

# A FastAPI app under uvicorn and nothing else (one process, access log on, like the services):
# a case-sized JSON GET and a POST that parses a petition-sized JSON body and answers 201 with
# a body like intake's. bench/tracking.py and bench/e2e.py measure the platform against it.
RAW_APP = """
import json
import sys
import uuid

import uvicorn
from fastapi import FastAPI

app = FastAPI()
CASE = json.loads(sys.argv[2])
CREATED = json.loads(sys.argv[3])


@app.get("/api/v1/cases/{number}")
async def case(number: str) -> dict:
    return {**CASE, "tracking_number": number}


@app.post("/api/v1/petitions", status_code=201)
async def submit(body: dict) -> dict:
    return {**CREATED, "petition_id": str(uuid.uuid4())}


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="info")
"""


def start_raw(
    case: dict[str, Any], log: Path, created: dict[str, Any] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the bare app on a free port: GET answers ``case`` (with the number asked for),
    POST answers 201 with ``created`` (a fresh petition id each time)."""
    port = free_port()
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                RAW_APP,
                str(port),
                json.dumps(case, ensure_ascii=False),
                json.dumps(created or {"status": "received"}, ensure_ascii=False),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"{url}/api/v1/cases/x", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    proc.wait(5)
    raise RuntimeError(f"the bare FastAPI app did not start; see {log}")


# -- suite --


def make_suite(var_dir: Path) -> tuple[Suite, dict[str, str]]:
    """The suite on free loopback ports: SQLite always; tansu unless a broker is given."""
    databases = {s: f"sqlite+aiosqlite:///{var_dir}/{s}.db" for s in SERVICES}
    external = os.environ.get("XINFANG_KAFKA_BOOTSTRAP_SERVERS")
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    suite = Suite(
        var_dir=var_dir,
        base_port=free_port_block(5),
        broker_port=free_port(),
        bootstrap_servers=external or None,
        database_urls=databases,
        extra_env={"XINFANG_TOPIC_PREFIX": prefix},
    )
    setup = {
        "broker": f"Kafka at {external}" if external else f"embedded tansu at {suite.bootstrap}",
        "topics": f"{prefix}.<service>.events",
        "databases": f"SQLite under {var_dir}",
        "gateway": suite.url("gateway"),
    }
    return suite, setup


async def delete_topics(suite: Suite) -> list[str]:
    """Delete the run's own topics from an external broker (all carry the unique prefix)."""
    settings = suite.settings()
    client = kafka.admin(settings, "xinfang-bench")
    await client.start()
    try:
        ours = [t for t in await client.list_topics() if t in settings.all_topics]
        if ours:
            await client.delete_topics(ours)
        return ours
    finally:
        await client.close()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=400, help="requests per phase (default 400)")
    p.add_argument("--concurrency", type=int, default=8, help="concurrent clients (default 8)")
    p.add_argument("--warmup", type=int, default=16, help="warm-up requests (default 16)")
    p.add_argument(
        "--poll-concurrency",
        type=int,
        default=4,
        help="routed-poller GETs in flight at most (default 4)",
    )
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds a phase or the drain may take"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = p.parse_args(argv)
    for name in ("count", "concurrency", "warmup", "poll_concurrency"):
        low = 0 if name == "warmup" else 1
        if not low <= getattr(args, name) <= 100_000:
            p.error(f"--{name.replace('_', '-')} must be between {low} and 100000")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    var_dir = Path(tempfile.mkdtemp(prefix="xinfang-bench-"))
    suite, setup = make_suite(var_dir)
    ok = False
    try:
        if not args.json:
            print(f"starting the suite ({setup['broker']}) ...", file=sys.stderr)
        started = time.perf_counter()
        try:
            suite.start()
            setup["suite start"] = f"{time.perf_counter() - started:.1f} s"
            result = asyncio.run(measure(suite.url("gateway"), args))
        except (RuntimeError, TimeoutError) as exc:
            print(f"benchmark failed: {str(exc) or 'timed out'}", file=sys.stderr)
            return 1
        result["setup"] = setup
        if args.json:
            print(json.dumps(result, indent=2, ensure_ascii=False, sort_keys=True))
        else:
            print_table(result, setup)
        ok = result["drain"]["all_routed"] and not (
            result["healthz"]["errors"] or result["post"]["errors"]
        )
        return 0 if ok else 1
    finally:
        suite.stop()
        if suite.bootstrap_servers:
            try:
                asyncio.run(delete_topics(suite))
            except Exception as exc:  # the measurement stands; say what was left behind
                print(f"could not delete the bench topics: {exc!r}", file=sys.stderr)
        if ok and not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)
        else:
            print(f"suite directory (logs): {var_dir}", file=sys.stderr)


if __name__ == "__main__":
    raise SystemExit(main())
