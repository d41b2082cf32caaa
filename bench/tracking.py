"""Tracking benchmark: the clock scheduler's scan over a million open cases, and case reads.

Measures in one run, each figure beside a baseline measured in the same run:

1. ``scan``: tracking's clock scan (``tracking.scheduler.scan``) in PostgreSQL
   (``XINFANG_BENCH_POSTGRES_URL``, a scratch database dropped at the end) holding ``--cases``
   open cases, each with a running clock and ``--history`` stopped ones, of which ``--share``
   (1%) cross a threshold today (four in five go due-soon, one in five overdue, opening
   supervision). Loaded with COPY. Timed: the scan, the same scan again (nothing left to do,
   what every minute costs), and the scan's reads alone; baselines: ``SELECT count(*)`` of
   the open clocks, and the same reads and scans without ``ix_clocks_next_check``.
2. ``reads``: ``GET /api/v1/cases/{tracking number}`` (owner token) per second through the
   gateway of a running suite (its own, on free ports, as ``bench/submit_flow.py``; SQLite,
   then PostgreSQL when ``XINFANG_BENCH_POSTGRES_URL`` is set) and straight to tracking;
   baseline: a bare FastAPI endpoint under uvicorn answering a case-sized JSON body, on the
   same machine, same load.

Run from the repository root: ``.venv/bin/python bench/tracking.py [--only scan|reads]
[--cases N] [--json]``.
"""

from __future__ import annotations

import os
import sys

# Run as ``python bench/tracking.py``, this file's directory is first on sys.path and this very
# file would shadow the ``tracking`` package: take the directory off before importing it.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from dataclasses import asdict  # noqa: E402
from datetime import UTC, date, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402

from services.devkit import create_scratch_database, drop_scratch_database  # noqa: E402
from shared import tracking_number as numbers  # noqa: E402
from shared.auth import mint_token  # noqa: E402
from shared.db import Database  # noqa: E402
from shared.migrations import upgrade  # noqa: E402
from shared.regions import RegionDirectory  # noqa: E402
from shared.settings import SERVICES, CommonSettings  # noqa: E402
from tracking.scheduler import BATCH_SIZE, _due, scan  # noqa: E402
from tracking.store import due_soon_on  # noqa: E402

POSTGRES_ENV = "XINFANG_BENCH_POSTGRES_URL"
TODAY = date(2026, 6, 15)  # a Monday in a year the official calendar knows
COUNTIES = ("110105", "110106", "110107", "110108", "310101", "320102", "440106", "510104")
KINDS = (("acceptance", 15, "routed"), ("handling", 60, "in_progress"))
WINDOW = ("review_request", 30, "replied")


def _submit_flow() -> Any:
    """bench/submit_flow.py's load generator and suite (not importable by name: see above)."""
    spec = importlib.util.spec_from_file_location("submit_flow", Path(_HERE) / "submit_flow.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["submit_flow"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


flow = _submit_flow()


# -- part 1: the scan over a million open cases --


def generate(n: int, share: float, history: int, seed: int = 2026) -> tuple[list, list, int]:
    """Rows for COPY: ``n`` cases, each with one running clock (``share`` of them crossing a
    threshold on TODAY) and ``history`` stopped clocks; returns cases, clocks, crossing."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    cases, clocks, crossing = [], [], 0
    for i in range(n):
        case_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        county = COUNTIES[i % len(COUNTIES)]
        j = i // len(COUNTIES)
        number = numbers.make(county, TODAY - timedelta(days=j // 99_999), j % 99_999 + 1)
        cross = rng.random() < share
        overdue = cross and rng.random() < 0.2
        kind, days, status = KINDS[rng.random() < 0.35] if overdue else _kind(rng)
        unit = f"{county}:hrss"
        if cross and not overdue:  # on time until today: due soon from today
            start = TODAY - timedelta(days=-(-days * 4 // 5))
            state = "on_time"
        elif overdue:  # noticed as due soon already; its last day was yesterday
            start = TODAY - timedelta(days=days + 1)
            state = "due_soon"
        else:  # 85% on time, 15% due soon already; nothing crosses today
            state = "due_soon" if rng.random() < 0.15 else "on_time"
            lead = days * 4 // 5
            start = TODAY - timedelta(
                days=rng.randint(lead, days - 1)
                if state == "due_soon"
                else rng.randint(0, lead - 1)
            )
        due = start + timedelta(days=days)
        soon = due_soon_on(start, due)
        check = soon if state == "on_time" else due + timedelta(days=1)
        crossing += cross
        cases.append(
            (case_id, number, "grievance", "web", "拖欠工资", county, status, unit, "h", False)
            + (False, now, now, now)
        )
        clocks.append(
            (case_id, kind, unit, start, due, soon, state, False, kind, check, None, None)
        )
        for h in range(history):  # e.g. the objection window, closed long ago
            old = start - timedelta(days=h)
            clocks.append(
                (case_id, "objection", unit, old, old + timedelta(days=7), old, "on_time")
                + (False, "objection", None, now, True)
            )
    return cases, clocks, crossing


def _kind(rng: random.Random) -> tuple[str, int, str]:
    roll = rng.random()
    return KINDS[0] if roll < 0.6 else KINDS[1] if roll < 0.95 else WINDOW


CASE_COLUMNS = [
    "id",
    "tracking_number",
    "kind",
    "channel",
    "title",
    "region_code",
    "status",
    "unit_id",
    "query_code_hash",
    "anonymous",
    "identity_unclear",
    "received_at",
    "registered_at",
    "updated_at",
]
CLOCK_COLUMNS = [
    "case_id",
    "kind",
    "unit_id",
    "started_on",
    "due",
    "due_soon_on",
    "state",
    "provisional",
    "basis",
    "next_check",
    "stopped_at",
    "met",
]


async def copy(db: Database, table: str, columns: list[str], rows: list) -> None:
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        await raw.copy_records_to_table(table, records=rows, columns=columns)
        await conn.commit()


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await fn()
    return result, time.perf_counter() - started


async def median_of(rounds: int, fn: Callable[[], Awaitable[Any]]) -> float:
    return statistics.median([(await timed(fn))[1] for _ in range(rounds)])


async def sql(db: Database, statement: str, **params: Any) -> Any:
    async with db.transaction() as s:
        result = await s.execute(text(statement), params)
        return result.scalar() if result.returns_rows else None


async def reads_only(db: Database, index: bool) -> int:
    """The scan's reads (every batch, keyset-paged) without its writes."""
    async with db.sessions() as s, s.begin():
        if not index:
            for knob in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"):
                await s.execute(text(f"SET LOCAL {knob} = off"))
        after, seen = None, 0
        while True:
            rows = (await s.execute(_due(TODAY, after, BATCH_SIZE))).all()
            seen += len(rows)
            if len(rows) < BATCH_SIZE:
                return seen
            after = (rows[-1].next_check, rows[-1].id)


async def measure_scan(admin: str, args: argparse.Namespace) -> dict[str, Any]:
    url = await create_scratch_database(admin, "xfbench")
    db = Database(url)
    settings = CommonSettings(topic_prefix="bench")
    out: dict[str, Any] = {"cases": args.cases, "history_per_case": args.history}
    try:
        await upgrade(db, "tracking")
        started = time.perf_counter()
        cases, clocks, crossing = generate(args.cases, args.share, args.history)
        gen = time.perf_counter() - started
        started = time.perf_counter()
        await copy(db, "cases", CASE_COLUMNS, cases)
        load_cases = time.perf_counter() - started
        started = time.perf_counter()
        await copy(db, "clocks", CLOCK_COLUMNS, clocks)
        load_clocks = time.perf_counter() - started
        del cases, clocks
        await sql(db, "ANALYZE")
        out["load"] = {
            "generate_s": round(gen, 2),
            "copy_cases_s": round(load_cases, 2),
            "copy_clocks_s": round(load_clocks, 2),
            "clock_rows": await sql(db, "SELECT count(*) FROM clocks"),
            "crossing_today": crossing,
            "clocks_table_mb": await _mb(db, "clocks"),
            "next_check_index_mb": await _mb(db, "ix_clocks_next_check"),
        }
        r = args.rounds
        count_open = "SELECT count(*) FROM clocks WHERE stopped_at IS NULL"
        out["open_clocks"] = await sql(db, count_open)
        out["baseline_count_s"] = await median_of(r, lambda: sql(db, count_open))
        out["reads_index_s"] = await median_of(r, lambda: reads_only(db, True))
        out["reads_no_index_s"] = await median_of(r, lambda: reads_only(db, False))
        await sql(
            db,
            "CREATE TABLE bench_snapshot AS SELECT id, state, next_check FROM clocks "
            "WHERE next_check <= :today",
            today=TODAY,
        )
        top = await sql(db, "SELECT max(id) FROM clocks")
        RegionDirectory.default()  # loaded once per process, as in the service
        await scan(db, settings, TODAY - timedelta(days=365))  # warm: nothing crosses then
        counts, out["scan_index_s"] = await timed(lambda: scan(db, settings, TODAY))
        out["scan_counts"] = asdict(counts)
        out["noop_index_s"] = await median_of(r, lambda: scan(db, settings, TODAY))
        await restore(db, top)
        await sql(db, "DROP INDEX ix_clocks_next_check")
        await sql(db, "ANALYZE clocks")
        again, out["scan_no_index_s"] = await timed(lambda: scan(db, settings, TODAY))
        out["scan_counts_no_index"] = asdict(again)
        out["noop_no_index_s"] = await median_of(r, lambda: scan(db, settings, TODAY))
    finally:
        await db.dispose()
        await drop_scratch_database(admin, url)
    for key in [k for k in out if k.endswith("_s")]:
        out[key] = round(out[key], 4)
    out["ratios"] = {
        "scan_no_index_over_index": round(out["scan_no_index_s"] / out["scan_index_s"], 2),
        "noop_no_index_over_index": round(out["noop_no_index_s"] / out["noop_index_s"], 1),
        "scan_over_count_baseline": round(out["scan_index_s"] / out["baseline_count_s"], 2),
        "reads_no_index_over_index": round(out["reads_no_index_s"] / out["reads_index_s"], 1),
    }
    return out


async def _mb(db: Database, relation: str) -> float:
    size = await sql(db, "SELECT pg_relation_size(CAST(:r AS regclass))", r=relation)
    return round(size / 2**20, 1)


async def restore(db: Database, top: int) -> None:
    """Puts the clocks back as they were before the scan (to scan again without the index)."""
    async with db.transaction() as s:
        for statement in (
            "DELETE FROM clocks WHERE id > :top",
            "UPDATE clocks c SET state = b.state, next_check = b.next_check, stopped_at = NULL, "
            "met = NULL FROM bench_snapshot b WHERE c.id = b.id",
            "DELETE FROM supervisions",
            "DELETE FROM timeline",
            "DELETE FROM outbox",
            "UPDATE cases SET status = 'replied' WHERE status = 'closed'",
        ):
            await s.execute(text(statement), {"top": top})


# -- part 2: case reads through the gateway --


async def load_reads(
    base: str, numbers_: list[str], headers: dict[str, str], args: argparse.Namespace
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        picks = iter(range(10**9))

        def get() -> Awaitable[httpx.Response]:
            n = numbers_[next(picks) % len(numbers_)]
            return client.get(f"/api/v1/cases/{n}", headers=headers)

        await flow.run_load(flow.Phase("warm-up"), args.warmup, args.concurrency, get, 200)
        phase = flow.Phase(base)
        await flow.run_load(phase, args.count, args.concurrency, get, 200)
    return phase.summary()


async def submit_cases(gateway: str, count: int, headers: dict[str, str]) -> list[str]:
    async with httpx.AsyncClient(base_url=gateway, timeout=60) as client:
        got = []
        for _ in range(count):
            r = await client.post("/api/v1/petitions", json=flow.petition_body(), headers=headers)
            r.raise_for_status()
            got.append(r.json()["tracking_number"])
        deadline = time.monotonic() + 120
        for number in got:
            while True:
                case = (await client.get(f"/api/v1/cases/{number}", headers=headers)).json()
                if case.get("status") == "routed":
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{number} not routed in 120 s")
                await asyncio.sleep(0.1)
        return got


def measure_reads(args: argparse.Namespace, admin: str | None = None) -> dict[str, Any]:
    """Part 2 on a suite of its own: SQLite, or scratch PostgreSQL databases (``admin``)."""
    var_dir = Path(tempfile.mkdtemp(prefix="xinfang-bench-"))
    suite, setup = flow.make_suite(var_dir)
    raw = None
    ok = False
    try:
        if admin:
            for service in SERVICES:
                suite.database_urls[service] = asyncio.run(create_scratch_database(admin, "xfb"))
            setup["databases"] = "PostgreSQL, a scratch database per service"
        suite.start()
        owner = {
            "Authorization": "Bearer "
            + mint_token(CommonSettings(), role="petitioner", sub="bench-reader")
        }
        got = asyncio.run(submit_cases(suite.url("gateway"), args.cases_read, owner))
        body = httpx.get(f"{suite.url('gateway')}/api/v1/cases/{got[0]}", headers=owner).json()
        raw, raw_url = flow.start_raw(body, var_dir / "logs" / "raw.log")
        result = {
            "setup": setup,
            "body_bytes": len(json.dumps(body, ensure_ascii=False).encode()),
            "cases": len(got),
            "raw": asyncio.run(load_reads(raw_url, got, owner, args)),
            "tracking": asyncio.run(load_reads(suite.url("tracking"), got, owner, args)),
            "gateway": asyncio.run(load_reads(suite.url("gateway"), got, owner, args)),
        }
        raw_rps = result["raw"]["requests_per_second"]
        result["ratios"] = {
            name: round(result[name]["requests_per_second"] / raw_rps, 3)
            for name in ("tracking", "gateway")
        }
        ok = not any(result[n]["errors"] for n in ("raw", "tracking", "gateway"))
        return result
    finally:
        if raw is not None:
            raw.terminate()
            raw.wait(10)
        suite.stop()
        if suite.bootstrap_servers:
            asyncio.run(flow.delete_topics(suite))
        for url in suite.database_urls.values() if admin else ():
            asyncio.run(drop_scratch_database(admin, url))
        if ok and not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)
        else:
            print(f"suite directory (logs): {var_dir}", file=sys.stderr)


# -- output --


def print_scan(r: dict[str, Any]) -> None:
    load = r["load"]
    print(
        f"Part 1: clock scan, PostgreSQL, {r['cases']:,} open cases, {load['clock_rows']:,} "
        f"clock rows ({r['open_clocks']:,} running), {load['crossing_today']:,} crossing today"
    )
    print(
        f"  load: generate {load['generate_s']} s, COPY cases {load['copy_cases_s']} s, COPY "
        f"clocks {load['copy_clocks_s']} s; clocks table {load['clocks_table_mb']} MB, "
        f"ix_clocks_next_check {load['next_check_index_mb']} MB"
    )
    rows = [
        ("SELECT count(*) of running clocks (baseline)", r["baseline_count_s"]),
        ("scan's reads alone, with the index", r["reads_index_s"]),
        ("scan's reads alone, index scans off", r["reads_no_index_s"]),
        ("scan (reads and writes), with the index", r["scan_index_s"]),
        ("scan without ix_clocks_next_check", r["scan_no_index_s"]),
        ("scan again, nothing to do, with the index", r["noop_index_s"]),
        ("scan again, nothing to do, no index", r["noop_no_index_s"]),
    ]
    for name, seconds in rows:
        print(f"  {name:<46}{seconds * 1000:>12,.1f} ms")
    c = r["scan_counts"]
    print(
        f"  scan: read {c['read']:,}, due soon {c['due_soon']:,}, overdue {c['overdue']:,}, "
        f"supervision opened {c['supervisions_opened']:,}, cases closed {c['cases_closed']:,}, "
        f"{c['batches']} batches"
    )
    print(f"  ratios: {r['ratios']}")


def print_reads(r: dict[str, Any], database: str) -> None:
    print(
        f"Part 2 ({database}): GET /api/v1/cases/{{tracking number}}, {r['cases']} cases, "
        f"body {r['body_bytes']} bytes"
    )
    print(f"  {'target':<34}{'ok':>6}{'err':>5}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'max ms':>9}")
    for name, label in (
        ("raw", "bare FastAPI + uvicorn (baseline)"),
        ("tracking", "tracking directly"),
        ("gateway", "gateway -> tracking"),
    ):
        s = r[name]
        print(
            f"  {label:<34}{s['ok']:>6}{s['errors']:>5}{s['requests_per_second']:>9.1f}"
            f"{s['p50_ms']:>9.1f}{s['p95_ms']:>9.1f}{s['max_ms']:>9.1f}"
        )
    print(f"  ratios over the baseline: {r['ratios']}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=("scan", "reads"), help="run one part only")
    p.add_argument("--cases", type=int, default=1_000_000, help="open cases (default 1,000,000)")
    p.add_argument("--share", type=float, default=0.01, help="share crossing today (0.01)")
    p.add_argument("--history", type=int, default=1, help="stopped clocks per case (1)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of the repeated timings (3)")
    p.add_argument("--count", type=int, default=2000, help="reads per target (2000)")
    p.add_argument("--concurrency", type=int, default=8, help="concurrent readers (8)")
    p.add_argument("--warmup", type=int, default=100, help="warm-up reads per target (100)")
    p.add_argument("--cases-read", type=int, default=20, help="cases submitted to read (20)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    p.add_argument("--keep", action="store_true", help="keep the suite's directory (logs)")
    args = p.parse_args(argv)
    if not 1_000 <= args.cases <= 10_000_000 or not 0 < args.share < 0.5:
        p.error("--cases must be 1,000 to 10,000,000 and --share between 0 and 0.5")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result: dict[str, Any] = {}
    status = 0
    admin = os.environ.get(POSTGRES_ENV)
    if args.only in (None, "scan"):
        if not admin:
            print(f"part 1 skipped: set {POSTGRES_ENV} (an admin DSN)", file=sys.stderr)
        else:
            result["scan"] = asyncio.run(measure_scan(admin, args))
            if not args.json:
                print_scan(result["scan"])
    if args.only in (None, "reads"):
        result["reads"] = {}
        for database, dsn in (("SQLite", None), ("PostgreSQL", admin)):
            if database == "PostgreSQL" and not dsn:
                continue
            try:
                reads = result["reads"][database] = measure_reads(args, dsn)
            except RuntimeError as exc:
                print(f"part 2 ({database}) failed: {exc}", file=sys.stderr)
                return 1
            status |= any(reads[n]["errors"] for n in ("raw", "tracking", "gateway"))
            if not args.json:
                print_reads(reads, database)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    return status


if __name__ == "__main__":
    raise SystemExit(main())
