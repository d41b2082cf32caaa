"""Intake benchmark: submissions into the intake service alone, and its pure functions.

Measures in one run, each figure beside a baseline measured in the same run:

1. Submissions per second into intake, with no gateway: the intake app runs in this process
   (``create_app()`` and its lifespan, relay and consumer included) behind
   ``httpx.ASGITransport``, on SQLite (a temporary file) and, when
   ``XINFANG_BENCH_POSTGRES_URL`` names an admin DSN, on a scratch PostgreSQL database (dropped
   at the end). Baselines: ``GET /healthz`` on the same app with the same concurrency, and
   ``shared.querycode.hash_code`` (the scrypt hash of the query code) timed alone.
2. Microseconds per call of ``intake.classify.classify``, ``RegionDirectory.resolve`` and the
   repeat check (shingles + Jaccard against 1,000 and 10,000 texts; MinHash ``bands``), each
   beside a cheaper operation on the same input.

Broker: an embedded tansu on a free loopback port, or ``XINFANG_KAFKA_BOOTSTRAP_SERVERS`` when
set (topics under a unique ``bench<hex>`` prefix, deleted at the end).

Run from the repository root: ``.venv/bin/python bench/intake.py [--count N]
[--concurrency C] [--json]``.
"""

from __future__ import annotations

import os
import sys

# Run as ``python bench/intake.py``, this file's directory is first on sys.path and this very
# file would shadow the ``intake`` package: take the directory off before importing it.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import math  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Awaitable, Callable, Iterator, Sequence  # noqa: E402
from contextlib import contextmanager, redirect_stdout  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from itertools import cycle  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from intake.classify import classify  # noqa: E402
from intake.main import create_app  # noqa: E402
from intake.models import petitions  # noqa: E402
from intake.repeats import bands, jaccard, shingles  # noqa: E402
from services.devkit import admin_sql, percentile  # noqa: E402
from services.launcher import Suite, free_port  # noqa: E402
from shared import querycode  # noqa: E402
from shared.auth import mint_token  # noqa: E402
from shared.messaging import kafka  # noqa: E402
from shared.regions import RegionDirectory  # noqa: E402
from shared.settings import CommonSettings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# The labelled development petitions (tests/data/classification/dev.jsonl until they moved
# into the package, where intake.bayes trains on them).
DEV_TEXTS = (
    ROOT / "intake" / "data" / "labelled.jsonl",
    ROOT / "tests" / "data" / "classification" / "dev.jsonl",
)
ADDRESSES = ROOT / "tests" / "data" / "addresses.jsonl"
POSTGRES_ENV = "XINFANG_BENCH_POSTGRES_URL"

# The classification baseline looks for 24 fixed phrases: the strongest phrase of each
# category in intake/data/categories.json, in the order of shared.vocabulary.CATEGORIES.
PHRASES = (
    "拖欠工资",
    "职业病",
    "养老保险",
    "交房",
    "业委会",
    "强拆",
    "宅基地",
    "禽流感",
    "污染",
    "违建",
    "公交",
    "误诊",
    "入学",
    "低保",
    "预付卡",
    "安全隐患",
    "赌博",
    "工程款",
    "烈士",
    "停水",
    "贪污",
    "行政复议",
    "营商环境",
    "特此表扬",
)
REPEAT_POOL = (1_000, 10_000)  # texts one repeat check compares against


# -- statistics --


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None or math.isnan(value) else round(value, digits)


def _ratio(a: float | None, b: float | None, digits: int = 3) -> float | None:
    if a is None or b is None or math.isnan(a) or math.isnan(b) or b == 0:
        return None
    return round(a / b, digits)


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0  # seconds from the first request sent to the last response
    cpu: float = 0.0  # CPU seconds of this process (all threads) during the phase

    @property
    def ok(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.ok / self.wall if self.wall > 0 else math.nan

    @property
    def p50_ms(self) -> float:
        return percentile(self.latencies, 50) * 1000

    @property
    def cpu_ms_per_request(self) -> float:
        done = self.ok + len(self.errors)
        return self.cpu * 1000 / done if done else math.nan

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
            "max_ms": _round(max(ms) if ms else math.nan),
            "cpu_ms_per_request": _round(self.cpu_ms_per_request),
        }


# -- load --


def petition_body() -> dict[str, Any]:
    """The body of tests/e2e/conftest.py ``petition()``: each call a different matter (a unique
    reference in its content), so that no submission is a repeat or part of a collective."""
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
        "location": {"region_code": "110107011"},
        "category": "wage_arrears",
    }


async def run_load(
    phase: Phase,
    count: int,
    concurrency: int,
    request: Callable[[int], Awaitable[httpx.Response]],
    expect: int,
) -> Phase:
    """``count`` requests from ``concurrency`` workers, each sending its next one as soon as
    the previous answered (closed loop); request ``i`` gets ``i``."""
    sent = 0

    async def worker() -> None:
        nonlocal sent
        while sent < count:
            i, sent = sent, sent + 1
            start = time.perf_counter()
            try:
                r = await request(i)
            except httpx.HTTPError as exc:
                phase.errors.append(type(exc).__name__)
                continue
            done = time.perf_counter()
            if r.status_code != expect:
                phase.errors.append(f"HTTP {r.status_code}: {r.text[:120]}")
                continue
            phase.latencies.append(done - start)

    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    phase.wall = time.perf_counter() - started
    phase.cpu = time.process_time() - cpu
    return phase


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the app's settings; restore them afterwards."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def service_log(path: Path) -> Iterator[None]:
    """The service configures its JSON logs on stdout at start-up (INFO: a line per request, as
    in production). Send them to a file instead: the cost stays, the output is ours."""
    with path.open("a", encoding="utf-8") as log, redirect_stdout(log):
        try:
            yield
        finally:
            for h in logging.getLogger().handlers:
                if isinstance(h, logging.StreamHandler) and h.stream is log:
                    h.setStream(sys.stderr)
                    h.setLevel(logging.WARNING)


async def measure_database(
    label: str, url: str, env: dict[str, str], log_path: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Health checks, then submissions (concurrent, then one at a time), on one database."""
    with environment({**env, "XINFANG_INTAKE_DATABASE_URL": url}), service_log(log_path):
        settings = CommonSettings()
        tokens = [
            {
                "Authorization": "Bearer "
                + mint_token(settings, role="petitioner", sub=f"bench-{uuid.uuid4().hex[:10]}")
            }
            for _ in range(args.petitioners)
        ]
        started = time.perf_counter()
        app = create_app()
        async with app.router.lifespan_context(app):
            startup = time.perf_counter() - started
            # An exception in the app is a 500 for the client, as behind uvicorn.
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://intake", timeout=30
            ) as client:

                def healthz(_: int) -> Awaitable[httpx.Response]:
                    return client.get("/healthz")

                def submit(i: int) -> Awaitable[httpx.Response]:
                    return client.post(
                        "/api/v1/petitions",
                        json=petition_body(),
                        headers=tokens[i % len(tokens)],
                    )

                async def phase(
                    name: str,
                    count: int,
                    conc: int,
                    req: Callable[[int], Awaitable[httpx.Response]],
                    expect: int,
                ) -> Phase:
                    return await asyncio.wait_for(
                        run_load(Phase(name), count, conc, req, expect), args.timeout
                    )

                c = args.concurrency
                warm = await phase("warm-up", args.warmup, c, submit, 201)
                if warm.errors:
                    raise RuntimeError(f"warm-up submissions failed: {warm.errors[:3]}")
                await phase("warm-up healthz", args.warmup, c, healthz, 200)
                health = await phase("GET /healthz", args.count, c, healthz, 200)
                post = await phase("POST /api/v1/petitions", args.count, c, submit, 201)
                serial = await phase("POST, one at a time", args.serial, 1, submit, 201)

                # The relay publishes in the same process: how long until all is sent.
                drain_start = time.perf_counter()
                runtime = app.state.runtime
                backlog = await runtime.relay.backlog()
                while backlog and time.perf_counter() - drain_start < args.timeout:
                    await asyncio.sleep(0.05)
                    backlog = await runtime.relay.backlog()
                drained = time.perf_counter() - drain_start

                p = petitions
                async with app.state.db.sessions() as s:
                    total, repeats, collective = (
                        await s.execute(
                            select(
                                func.count(),
                                func.count(p.c.repeat_of),
                                func.count(p.c.collective_id),
                            )
                        )
                    ).one()
    return {
        "database": label,
        "startup_seconds": round(startup, 3),
        "healthz": health.summary(),
        "post": post.summary(),
        "post_serial": post_serial_summary(serial),
        "ratios": {
            "post_rps_over_healthz_rps": _ratio(post.rps, health.rps, 4),
            "post_p50_over_healthz_p50": _ratio(post.p50_ms, health.p50_ms, 1),
            "post_cpu_over_healthz_cpu": _ratio(
                post.cpu_ms_per_request, health.cpu_ms_per_request, 1
            ),
        },
        "outbox": {
            "unsent_after_load": backlog,
            "seconds_to_drain_after_load": round(drained, 3) if not backlog else None,
        },
        "petitions": {
            "stored": total,
            "flagged_repeat": repeats,
            "flagged_collective": collective,
        },
        "ok": not (health.errors or post.errors or serial.errors or backlog),
    }


def post_serial_summary(phase: Phase) -> dict[str, Any]:
    return {k: v for k, v in phase.summary().items() if k != "requests_per_second"}


def time_query_code_hash(calls: int) -> dict[str, Any]:
    """``shared.querycode.hash_code`` alone, one call after another in this thread."""
    querycode.hash_code(querycode.new_code())  # warm
    codes = [querycode.new_code() for _ in range(calls)]
    walls, cpus = [], []
    for code in codes:
        cpu, start = time.process_time(), time.perf_counter()
        querycode.hash_code(code)
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return {
        "calls": calls,
        "wall_ms_p50": round(statistics.median(walls) * 1000, 2),
        "wall_ms_min": round(min(walls) * 1000, 2),
        "cpu_ms_mean": round(statistics.fmean(cpus) * 1000, 2),
    }


def scrypt_share(db: dict[str, Any], scrypt: dict[str, Any]) -> dict[str, Any]:
    """How much of a submission the query-code hash is."""
    return {
        "of_cpu_per_concurrent_submission": _ratio(
            scrypt["cpu_ms_mean"], db["post"]["cpu_ms_per_request"]
        ),
        "of_serial_submission_p50": _ratio(scrypt["wall_ms_p50"], db["post_serial"]["p50_ms"]),
    }


# -- databases and broker --


def create_postgres(admin: str) -> tuple[str, str, str]:
    """(scratch database name, its URL, "") or ("", "", why not)."""
    name = f"xfbench_{uuid.uuid4().hex[:12]}"
    try:
        asyncio.run(asyncio.wait_for(admin_sql(admin, f'CREATE DATABASE "{name}"'), 20))
    except Exception as exc:  # unreachable, refused, wrong password: skip the phase
        return "", "", f"{type(exc).__name__}: {str(exc)[:160]}"
    return name, make_url(admin).set(database=name).render_as_string(hide_password=False), ""


def drop_postgres(admin: str, name: str) -> None:
    try:
        asyncio.run(admin_sql(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except Exception as exc:
        print(f"could not drop the scratch database {name}: {exc!r}", file=sys.stderr)


async def delete_topics(settings: CommonSettings) -> None:
    """Delete the run's own topics from an external broker (all carry the unique prefix)."""
    client = kafka.admin(settings, "xinfang-bench")
    await client.start()
    try:
        ours = [t for t in await client.list_topics() if t in settings.all_topics]
        if ours:
            await client.delete_topics(ours)
    finally:
        await client.close()


def run_submissions(
    args: argparse.Namespace, var_dir: Path, setup: dict[str, str]
) -> dict[str, Any]:
    external = os.environ.get("XINFANG_KAFKA_BOOTSTRAP_SERVERS")
    prefix = f"bench{uuid.uuid4().hex[:8]}"
    suite = Suite(
        var_dir=var_dir,
        broker_port=free_port(),
        bootstrap_servers=external or None,
        extra_env={"XINFANG_TOPIC_PREFIX": prefix},
        die_with_parent=True,
    )
    setup["app"] = (
        "intake create_app() in this process, lifespan (relay, consumer) running, "
        "httpx.ASGITransport; service logs (INFO) to a file"
    )
    setup["broker"] = f"Kafka at {external}" if external else f"embedded tansu at {suite.bootstrap}"
    setup["topics"] = f"{prefix}.<service>.events"
    # SQLite first, then PostgreSQL (measured, or why not)
    out: dict[str, Any] = {"databases": {"sqlite": None, "postgresql": None}}
    admin = os.environ.get(POSTGRES_ENV)
    try:
        say(f"starting the broker ({setup['broker']}) ...")
        suite.start_broker()
        env = {
            "XINFANG_KAFKA_BOOTSTRAP_SERVERS": suite.bootstrap,
            "XINFANG_TOPIC_PREFIX": prefix,
            "XINFANG_VAR_DIR": str(var_dir),
            "XINFANG_LOG_LEVEL": args.log_level,
        }
        say(f"timing shared.querycode.hash_code alone ({args.hash_calls} calls) ...")
        out["query_code_hash"] = scrypt = time_query_code_hash(args.hash_calls)

        targets: list[tuple[str, str, str]] = [
            ("sqlite", "SQLite (temp file)", f"sqlite+aiosqlite:///{var_dir}/intake.db")
        ]
        scratch = ""
        if admin:
            scratch, url, why = create_postgres(admin)
            if not scratch:
                out["databases"]["postgresql"] = {"skipped": f"PostgreSQL not reachable: {why}"}
                say(f"PostgreSQL phase skipped: not reachable ({why})")
            else:
                targets.append(("postgresql", f"PostgreSQL (scratch {scratch})", url))
        else:
            out["databases"]["postgresql"] = {"skipped": f"{POSTGRES_ENV} not set"}
        try:
            for key, label, url in targets:
                say(f"{label}: {args.count} submissions at concurrency {args.concurrency} ...")
                try:
                    db = asyncio.run(
                        measure_database(label, url, env, var_dir / f"intake-{key}.log", args)
                    )
                except Exception as exc:  # e.g. PostgreSQL stopped meanwhile: say so, go on
                    db = {"database": label, "failed": f"{type(exc).__name__}: {exc}"[:300]}
                    say(f"{label} failed: {db['failed']}")
                else:
                    db["query_code_hash_share"] = scrypt_share(db, scrypt)
                out["databases"][key] = db
        finally:
            if admin and scratch:
                drop_postgres(admin, scratch)
    finally:
        suite.stop()
        if external:
            try:
                asyncio.run(delete_topics(suite.settings()))
            except Exception as exc:  # the measurement stands; say what was left behind
                print(f"could not delete the bench topics: {exc!r}", file=sys.stderr)
    return out


# -- pure functions --


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def per_call(run: Callable[[], int], baseline: Callable[[], int], rounds: int) -> dict[str, Any]:
    """µs per call of ``run`` and ``baseline`` (each returns how many calls it made), rounds
    alternating so that both see the same load; the median round counts."""
    run(), baseline()  # warm caches (regions made, rules loaded)
    ours, base, calls, base_calls = [], [], 0, 0
    for _ in range(rounds):
        for fn, into in ((run, ours), (baseline, base)):
            start = time.perf_counter()
            n = fn()
            into.append((time.perf_counter() - start) / n * 1e6)
            if fn is run:
                calls += n
            else:
                base_calls += n
    us, base_us = statistics.median(ours), statistics.median(base)
    return {
        "calls": calls,
        "us_per_call": round(us, 2),
        "us_per_call_min": round(min(ours), 2),
        "baseline_calls": base_calls,
        "baseline_us_per_call": round(base_us, 3),
        "ratio": round(us / base_us, 1) if base_us else None,
    }


def run_micro(args: argparse.Namespace) -> dict[str, Any]:
    dev = next(p for p in DEV_TEXTS if p.exists())
    items = load_jsonl(dev)
    fallbacks = sum(
        classify(x["title"], x["content"], x["kind"]).matched == ("naive-bayes",) for x in items
    )
    addresses = [row["address"] for row in load_jsonl(ADDRESSES)]
    directory = RegionDirectory.default()
    directory.resolve("北京市")  # the name index is built on the first call, as at start-up
    known = [row["expected_code"] for row in load_jsonl(ADDRESSES) if row.get("expected_code")]
    codes = [known[i % len(known)] for i in range(len(addresses))]
    texts = [x["title"] + x["content"] for x in items]
    # A pool of distinct texts for the repeat check: the dev texts with a case number each.
    pool = [f"{texts[i % len(texts)]}（案件编号{i:06d}）" for i in range(max(REPEAT_POOL))]
    grams = [shingles(t) for t in texts]
    out: dict[str, Any] = {"rounds": args.rounds}

    def classifying() -> int:
        for x in items:
            classify(x["title"], x["content"], x["kind"])
        return len(items)

    def scanning() -> int:
        hits = 0
        for x in items:
            title, content = x["title"], x["content"]
            for phrase in PHRASES:
                hits += phrase in title
                hits += phrase in content
        return len(items)

    say(f"classification: {len(items)} dev texts x {args.rounds} rounds ...")
    out["classify"] = {
        "what": f"intake.classify.classify over the {len(items)} texts of {dev.relative_to(ROOT)}",
        "naive_bayes_second_opinions": fallbacks,
        "baseline": f"str.__contains__ of {len(PHRASES)} fixed phrases in title and content",
        **per_call(classifying, scanning, args.rounds),
    }

    def resolving() -> int:
        for a in addresses:
            directory.resolve(a)
        return len(addresses)

    def looking_up() -> int:
        for c in codes:
            directory.get(c)
        return len(codes)

    say(f"address resolution: {len(addresses)} addresses x {args.rounds} rounds ...")
    out["resolve"] = {
        "what": f"RegionDirectory.default().resolve over {len(addresses)} addresses.jsonl",
        "baseline": "RegionDirectory.default().get(code), as many expected codes",
        **per_call(resolving, looking_up, args.rounds),
    }

    def repeat_check(others: list[str], checks: int) -> Callable[[], int]:
        queries = cycle(texts)

        def run() -> int:
            for _ in range(checks):
                mine = shingles(next(queries))
                best = 0.0
                for other in others:
                    best = max(best, jaccard(mine, shingles(other)))
            return checks

        return run

    def shingles_only(others: list[str], checks: int) -> Callable[[], int]:
        queries = cycle(texts)

        def run() -> int:
            for _ in range(checks):
                shingles(next(queries))
                for other in others:
                    shingles(other)
            return checks

        return run

    for n in REPEAT_POOL:
        checks = max(1, 4_000 // n)  # one call compares one text with all n others
        say(f"repeat check against {n:,} texts x {args.rounds} rounds ...")
        out[f"repeat_{n}"] = {
            "what": f"shingles of one text + shingles and jaccard of each of {n:,} others",
            "baseline": f"shingles only of the same {n + 1:,} texts",
            "pairs_per_call": n,
            **per_call(
                repeat_check(pool[:n], checks), shingles_only(pool[:n], checks), args.rounds
            ),
        }

    # For comparison: the same check when the others' shingles are already at hand (intake
    # re-shingles every stored text it compares with). 1,000 only: 10,000 sets take ~150 MB.
    n = min(REPEAT_POOL)
    stored = [shingles(t) for t in pool[:n]]
    queries = cycle(texts)

    def comparing(checks: int = max(1, 4_000 // n)) -> int:
        for _ in range(checks):
            mine = shingles(next(queries))
            best = 0.0
            for other in stored:
                best = max(best, jaccard(mine, other))
        return checks

    say(f"jaccard against {n:,} pre-shingled texts x {args.rounds} rounds ...")
    out[f"jaccard_only_{n}"] = {
        "what": f"shingles of one text + jaccard with {n:,} shingle sets computed beforehand",
        "baseline": f"shingles only of the same {n + 1:,} texts",
        "pairs_per_call": n,
        **per_call(comparing, shingles_only(pool[:n], max(1, 4_000 // n)), args.rounds),
    }
    stored.clear()

    def hashing() -> int:
        for g in grams:
            bands(g)
        return len(grams)

    def shingling_texts() -> int:
        for t in texts:
            shingles(t)
        return len(texts)

    say(f"MinHash bands: {len(texts)} texts x {args.rounds} rounds ...")
    out["bands"] = {
        "what": f"intake.repeats.bands (MinHash, 64 permutations) of {len(texts)} texts' shingles",
        "baseline": "shingles of the same texts",
        **per_call(hashing, shingling_texts, args.rounds),
    }
    return out


# -- output --


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def print_table(result: dict[str, Any]) -> None:
    setup = result["setup"]
    print(f"Xinfang intake benchmark ({setup['started']})")
    for key, value in setup.items():
        if key != "started":
            print(f"  {key}: {value}")
    subs = result.get("submissions")
    if subs:
        print()
        print(
            f"1. Submissions into intake (no gateway): {result['count']} requests per phase, "
            f"concurrency {result['concurrency']}, {result['petitioners']} petitioner tokens"
        )
        header = (
            f"{'phase':<34}{'ok':>5}{'err':>5}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
            f"{'max ms':>9}{'CPU ms/req':>12}"
        )
        scrypt = subs["query_code_hash"]
        for key in ("sqlite", "postgresql"):
            db = subs["databases"].get(key)
            if db is None:
                continue
            print()
            if "skipped" in db or "failed" in db:
                print(f"{db.get('database', 'PostgreSQL')}: {db.get('skipped') or db['failed']}")
                continue
            print(f"{db['database']} (app start-up with migrations {db['startup_seconds']} s)")
            print(header)
            print("-" * len(header))
            for name, s in (
                ("GET /healthz (baseline)", db["healthz"]),
                ("POST /api/v1/petitions", db["post"]),
                (f"POST one at a time ({s_ok(db['post_serial'])})", db["post_serial"]),
            ):
                print(
                    f"{name:<34}{s['ok']:>5}{s['errors']:>5}"
                    f"{_fmt(s.get('requests_per_second')):>9}{_fmt(s['p50_ms']):>9}"
                    f"{_fmt(s['p95_ms']):>9}{_fmt(s['max_ms']):>9}"
                    f"{_fmt(s['cpu_ms_per_request']):>12}"
                )
            r, share = db["ratios"], db["query_code_hash_share"]
            print(
                f"POST/healthz: throughput {_fmt(r['post_rps_over_healthz_rps'], '.3f')}, "
                f"p50 latency {_fmt(r['post_p50_over_healthz_p50'])}x, "
                f"CPU per request {_fmt(r['post_cpu_over_healthz_cpu'])}x"
            )
            print(
                f"query-code hash: {_pct(share['of_cpu_per_concurrent_submission'])} of the CPU "
                f"of a submission, {_pct(share['of_serial_submission_p50'])} of a one-at-a-time "
                "submission's p50 latency"
            )
            outbox, stored = db["outbox"], db["petitions"]
            drained = outbox["seconds_to_drain_after_load"]
            published = (
                f"all events published {drained:.2f} s after the load"
                if drained is not None
                else f"{outbox['unsent_after_load']} events NOT published"
            )
            print(
                f"outbox: {published}; petitions stored {stored['stored']}, flagged repeat "
                f"{stored['flagged_repeat']}, collective {stored['flagged_collective']}"
            )
            for name in ("healthz", "post", "post_serial"):
                for sample in db[name]["error_samples"]:
                    print(f"  {name} error: {sample}")
        print()
        print(
            f"baseline: shared.querycode.hash_code alone (scrypt N=2^14, r=8), {scrypt['calls']} "
            f"calls: p50 {scrypt['wall_ms_p50']} ms, min {scrypt['wall_ms_min']} ms, "
            f"CPU {scrypt['cpu_ms_mean']} ms per call"
        )
    micro = result.get("micro")
    if micro:
        print()
        print(
            f"2. Pure functions (median of {micro['rounds']} rounds, each alternating with its "
            "baseline)"
        )
        header = f"{'operation':<36}{'calls':>7}{'µs/call':>11}  {'baseline':<34}{'µs/call':>9}"
        print(header + f"{'ratio':>8}")
        print("-" * (len(header) + 8))
        rows = [
            ("classify (dev texts)", "24 phrases, str.__contains__", micro["classify"]),
            ("resolve address (addresses.jsonl)", "RegionDirectory.get(code)", micro["resolve"]),
        ]
        for n in REPEAT_POOL:
            rows.append(
                (
                    f"repeat check vs {n:,} texts",
                    f"shingles only, {n + 1:,} texts",
                    micro[f"repeat_{n}"],
                )
            )
        n = min(REPEAT_POOL)
        if f"jaccard_only_{n}" in micro:
            rows.append(
                (
                    f"  same, {n:,} already shingled",
                    f"shingles only, {n + 1:,} texts",
                    micro[f"jaccard_only_{n}"],
                )
            )
        rows.append(("bands() MinHash per text", "shingles per text", micro["bands"]))
        for name, base, m in rows:
            print(
                f"{name:<36}{m['calls']:>7}{m['us_per_call']:>11,.1f}  {base:<34}"
                f"{m['baseline_us_per_call']:>9,.1f}{_fmt(m['ratio']):>8}"
            )
        per_pair = ", ".join(
            f"{micro[f'repeat_{n}']['us_per_call'] / n:.1f} µs vs {n:,}" for n in REPEAT_POOL
        )
        print(f"repeat check per pair compared: {per_pair}")
        print(
            f"classify: {micro['classify']['naive_bayes_second_opinions']} of the dev texts "
            "are placed by the naive Bayes second opinion (the rest by the phrase rules)"
        )
    print()
    print(f"load average after the run: {result['load_after']}")


def s_ok(s: dict[str, Any]) -> str:
    return f"{s['ok'] + s['errors']} requests"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=200, help="requests per load phase (200)")
    p.add_argument("--concurrency", type=int, default=8, help="concurrent clients (8)")
    p.add_argument("--petitioners", type=int, default=4, help="petitioner tokens (4)")
    p.add_argument("--warmup", type=int, default=8, help="warm-up submissions and checks (8)")
    p.add_argument("--serial", type=int, default=20, help="submissions one at a time (20)")
    p.add_argument("--hash-calls", type=int, default=10, help="hash_code calls timed (10)")
    p.add_argument("--rounds", type=int, default=5, help="rounds per pure function (5)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds a load phase may take")
    p.add_argument("--log-level", default="INFO", help="the service's log level (INFO)")
    p.add_argument(
        "--only", choices=("submit", "micro"), help="run only part 1 (submit) or 2 (micro)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory (logs)")
    args = p.parse_args(argv)
    limits = {
        "count": (1, 100_000),
        "concurrency": (1, 1_000),
        "petitioners": (1, 1_000),
        "warmup": (1, 10_000),
        "serial": (1, 10_000),
        "hash_calls": (1, 1_000),
        "rounds": (1, 100),
    }
    for name, (low, high) in limits.items():
        if not low <= getattr(args, name) <= high:
            p.error(f"--{name.replace('_', '-')} must be between {low} and {high}")
    return args


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1, 5, 15 min)"
    except OSError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result: dict[str, Any] = {
        "count": args.count,
        "concurrency": args.concurrency,
        "petitioners": args.petitioners,
        "setup": {
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
            "load average before": load_average(),
        },
    }
    var_dir = Path(tempfile.mkdtemp(prefix="xinfang-bench-intake-"))
    ok = False
    try:
        if args.only != "micro":
            try:
                result["submissions"] = run_submissions(args, var_dir, result["setup"])
            except (RuntimeError, TimeoutError) as exc:  # no broker, or the warm-up failed
                say(f"benchmark failed: {str(exc) or 'timed out'}")
                return 1
        if args.only != "submit":
            result["micro"] = run_micro(args)
        result["load_after"] = load_average()
        if args.json:
            print(json.dumps(result, indent=2, ensure_ascii=False))
        else:
            print_table(result)
        dbs = result.get("submissions", {}).get("databases", {}).values()
        ok = all(db.get("ok", "skipped" in db) for db in filter(None, dbs))
        return 0 if ok else 1
    finally:
        if ok and not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)
        else:
            say(f"temporary directory (service logs): {var_dir}")


if __name__ == "__main__":
    raise SystemExit(main())
