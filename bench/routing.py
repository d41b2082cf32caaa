"""Routing benchmark: loading the unit directory, and deciding where petitions go.

Measures in one run, each figure beside a baseline measured in the same run:

1. Directory load time: ``routing.directory.generate()`` (105,960 units), ``Directory(units)``,
   and on a fresh SQLite database (a temporary file) -- and on a scratch PostgreSQL database
   when ``XINFANG_BENCH_POSTGRES_URL`` names an admin DSN (dropped at the end) -- the
   migrations, ``routing.units.seed`` and the reload path ``Jurisdiction().load(db)``.
   Baseline: a plain ``{unit.id: unit}`` dict over the same units.
2. ``routing.jurisdiction.decide`` per call (p50/p99/mean) over ``--count`` generated
   petitions (``random.Random(2026)``), with the outcomes and a check that no accusation is
   handled or co-handled by the accused unit. Baseline: ``Directory.get(unit_id)``.
3. Memory: the process RSS (``/proc/self/status`` VmRSS and ``ru_maxrss``) before loading, after
   the region data, after ``generate()``, after ``Directory()``; baseline: after the plain dict.

Run from the repository root: ``.venv/bin/python bench/routing.py [--count N] [--json]``.
"""

from __future__ import annotations

import os
import sys

# Run as ``python bench/routing.py``, this file's directory is first on sys.path and this very
# file would shadow the ``routing`` package: take the directory off before importing it.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from sqlalchemy import func, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from routing.directory import Unit, generate  # noqa: E402
from routing.handlers import Jurisdiction  # noqa: E402
from routing.jurisdiction import Directory, Rules, decide  # noqa: E402
from routing.models import units as units_table  # noqa: E402
from routing.units import seed  # noqa: E402
from services.devkit import admin_sql, percentile  # noqa: E402
from shared import migrations  # noqa: E402
from shared.db import Database  # noqa: E402
from shared.regions import RegionDirectory  # noqa: E402
from shared.vocabulary import CATEGORIES  # noqa: E402

POSTGRES_ENV = "XINFANG_BENCH_POSTGRES_URL"
SEED = 2026

# Petition mix (see README). Kinds: most petitions are grievances (申诉/求决), some accusations
# (检举控告), a few suggestions.
KIND_WEIGHTS = {"grievance": 82, "suggestion": 6, "accusation": 12}
# Categories of grievances: every category but ``policy``, the common matters weighing more.
GRIEVANCE_CATEGORIES = {
    "wage_arrears": 12,
    "labour_dispute": 6,
    "social_insurance": 7,
    "housing_quality": 6,
    "property_management": 6,
    "land_acquisition": 8,
    "rural_land": 6,
    "agriculture": 3,
    "pollution": 5,
    "urban_order": 5,
    "transport": 3,
    "health": 4,
    "education": 4,
    "social_assistance": 5,
    "consumer": 4,
    "safety_hazard": 2,
    "public_order": 3,
    "government_arrears": 3,
    "veterans": 2,
    "water": 2,
    "misconduct": 2,
    "litigation": 5,
    "other": 4,
}
assert set(GRIEVANCE_CATEGORIES) | {"policy"} == set(CATEGORIES)
# Short subjects for the texts: none contains a major keyword (routing_rules.json "major").
SUBJECTS = {
    "wage_arrears": "拖欠工资",
    "labour_dispute": "劳动合同纠纷",
    "social_insurance": "养老保险待遇",
    "housing_quality": "房屋漏水",
    "property_management": "物业收费",
    "land_acquisition": "征地补偿",
    "rural_land": "土地承包",
    "agriculture": "农资质量",
    "pollution": "工厂排污",
    "urban_order": "占道经营",
    "transport": "公交线路",
    "health": "医疗纠纷",
    "education": "入学",
    "social_assistance": "低保",
    "consumer": "预付卡退费",
    "safety_hazard": "违规施工隐患",
    "public_order": "噪音扰民",
    "government_arrears": "拖欠工程款",
    "veterans": "退役军人待遇",
    "water": "停水",
    "misconduct": "干部违纪",
    "litigation": "判决执行",
    "policy": "政策建议",
    "other": "其他事项",
}
TEMPLATES = (
    "反映{s}问题，多次协调未果，请求依法处理。",
    "关于{s}的情况，希望有关部门尽快答复。",
    "{s}问题长期得不到解决，恳请督促办理。",
    "本人就{s}一事提出诉求，请予核实。",
)
MAJOR_TEXT_SHARE = 0.03  # petitions whose text carries a major keyword
HEADCOUNTS = ((0.92, 1, 1), (0.98, 2, 9), (0.995, 10, 49), (1.0, 50, 300))  # (cum. share, lo, hi)


# -- measuring --


def rss() -> dict[str, float]:
    """The process's resident set now (VmRSS) and its peak so far (ru_maxrss), in MB."""
    gc.collect()
    vm = math.nan
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    vm = int(line.split()[1]) / 1024  # kB
                    break
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return {"vm_rss_mb": round(vm, 1), "max_rss_mb": round(peak, 1)}


def distribution_us(ns: list[int]) -> dict[str, float]:
    ordered = sorted(ns)
    return {
        "calls": len(ordered),
        "p50_us": round(percentile(ordered, 50) / 1000, 3),
        "p99_us": round(percentile(ordered, 99) / 1000, 3),
        "mean_us": round(statistics.fmean(ordered) / 1000, 3),
        "max_us": round(ordered[-1] / 1000, 1),
        "total_s": round(sum(ordered) / 1e9, 3),
    }


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, (time.perf_counter() - started) * 1000


# -- 1 and 3: load in memory, with the RSS at each step --


def measure_load(rounds: int) -> tuple[list[Unit], Directory, dict[str, Any]]:
    """Cold path once (with the RSS after each step), then ``rounds`` warm repeats."""
    memory: dict[str, Any] = {"before_loading": rss()}
    regions, regions_ms = timed(lambda: list(RegionDirectory.default()))
    memory["after_region_data"] = rss()
    units, generate_ms = timed(generate)
    memory["after_generate"] = rss()
    directory, directory_ms = timed(lambda: Directory(units))
    memory["after_directory"] = rss()
    plain, plain_ms = timed(lambda: {u.id: u for u in units})
    memory["after_plain_dict"] = rss()
    vm = {k: v["vm_rss_mb"] for k, v in memory.items()}
    memory["deltas_mb"] = {
        "region_data": round(vm["after_region_data"] - vm["before_loading"], 1),
        "generate": round(vm["after_generate"] - vm["after_region_data"], 1),
        "directory": round(vm["after_directory"] - vm["after_generate"], 1),
        "plain_dict (baseline)": round(vm["after_plain_dict"] - vm["after_directory"], 1),
    }
    assert len(plain) == len(units) == len(directory), "duplicate unit ids"
    del plain

    warm: dict[str, list[float]] = {"generate": [], "directory": [], "plain_dict": []}
    for _ in range(rounds):  # alternating, so that all three see the same load
        again, ms = timed(generate)
        warm["generate"].append(ms)
        del again
        again, ms = timed(lambda: Directory(units))
        warm["directory"].append(ms)
        del again
        again, ms = timed(lambda: {u.id: u for u in units})
        warm["plain_dict"].append(ms)
        del again
    first = {"generate": generate_ms, "directory": directory_ms, "plain_dict": plain_ms}
    steps = {
        name: {
            "first_ms": round(first[name], 1),
            "median_ms": round(statistics.median(values), 1),
            "min_ms": round(min(values), 1),
        }
        for name, values in warm.items()
    }
    base = steps["plain_dict"]["median_ms"]
    for step in steps.values():
        step["x_plain_dict"] = round(step["median_ms"] / base, 1) if base else None
    load = {
        "units": len(units),
        "regions": len(regions),
        "region_data_ms_cold": round(regions_ms, 1),
        "rounds": rounds,
        "steps": steps,
    }
    return units, directory, {"load": load, "memory": memory}


# -- 1: databases --


async def measure_database(url: str, units: list[Unit]) -> dict[str, Any]:
    """Migrations, seed, a second (no-op) seed, and the reload path on one fresh database."""
    db = Database(url)
    out: dict[str, Any] = {}
    try:
        started = time.perf_counter()
        await migrations.upgrade(db, "routing")
        out["migrate_ms"] = round((time.perf_counter() - started) * 1000, 1)

        started = time.perf_counter()
        seeded = await seed(db, actor="system:bench")
        out["seed_ms"] = round((time.perf_counter() - started) * 1000, 1)
        out["seed_inserted"] = seeded.inserted
        if seeded.inserted != len(units):
            raise RuntimeError(f"seed inserted {seeded.inserted} units, not {len(units)}")

        started = time.perf_counter()
        again = await seed(db, actor="system:bench")
        out["reseed_ms"] = round((time.perf_counter() - started) * 1000, 1)
        if again.inserted:
            raise RuntimeError(f"the second seed inserted {again.inserted} units")

        jurisdiction = Jurisdiction()
        started = time.perf_counter()
        await jurisdiction.load(db)
        out["load_ms"] = round((time.perf_counter() - started) * 1000, 1)
        loaded = jurisdiction.directory
        assert loaded is not None
        out["loaded_units"] = len(loaded)
        if len(loaded) != len(units):
            raise RuntimeError(f"Jurisdiction.load gave {len(loaded)} units, not {len(units)}")

        # the reload path without the Directory: the SELECT and the Unit objects alone
        started = time.perf_counter()
        async with db.sessions() as s:
            rows = (await s.execute(select(units_table))).all()
        out["select_ms"] = round((time.perf_counter() - started) * 1000, 1)
        out["rows"] = len(rows)
        del rows
        async with db.sessions() as s:
            out["count"] = (await s.execute(select(func.count()).select_from(units_table))).scalar()
        if db.dialect == "sqlite":
            path = Path(make_url(url).database or "")
            out["file_mb"] = round(
                sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20, 1
            )
        else:
            async with db.sessions() as s:
                size = (await s.execute(text("SELECT pg_total_relation_size('units')"))).scalar()
            out["table_mb"] = round(size / 2**20, 1)
    finally:
        await db.dispose()
    return out


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
        say(f"could not drop the scratch database {name}: {exc!r}")


def measure_databases(
    units: list[Unit], var_dir: Path, timeout: float
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    targets = [("sqlite", "SQLite (temp file)", f"sqlite+aiosqlite:///{var_dir}/routing.db")]
    admin = os.environ.get(POSTGRES_ENV)
    scratch = ""
    if admin:
        scratch, url, why = create_postgres(admin)
        if scratch:
            targets.append(("postgresql", f"PostgreSQL (scratch {scratch})", url))
        else:
            out["postgresql"] = {"skipped": f"PostgreSQL not reachable: {why}"}
            say(f"PostgreSQL skipped: not reachable ({why})")
    else:
        out["postgresql"] = {"skipped": f"{POSTGRES_ENV} not set"}
    try:
        for key, label, url in targets:
            say(f"{label}: migrations, seed, re-seed, Jurisdiction().load ...")
            try:
                result = asyncio.run(asyncio.wait_for(measure_database(url, units), timeout))
            except Exception as exc:  # e.g. PostgreSQL stopped meanwhile: say so, go on
                result = {"failed": f"{type(exc).__name__}: {exc}"[:300]}
                say(f"{label} failed: {result['failed']}")
            out[key] = {"database": label, **result}
    finally:
        if admin and scratch:
            drop_postgres(admin, scratch)
    return out


# -- 2: decisions --


def make_petitions(units: list[Unit], directory: Directory, count: int, seed: int) -> list[dict]:
    """``count`` petitions as routing's handler passes them to ``decide`` (without the
    directory). Region codes: every county and township of the region data, uniformly."""
    rng = random.Random(seed)
    places = sorted(r.short for r in RegionDirectory.default() if r.level in ("county", "township"))
    at: dict[str, list[str]] = {}
    for u in units:
        at.setdefault(u.region_code, []).append(u.id)
    all_ids = [u.id for u in units]
    keywords = Rules.default().keywords
    kinds, kind_w = zip(*KIND_WEIGHTS.items(), strict=True)
    cats, cat_w = zip(*GRIEVANCE_CATEGORIES.items(), strict=True)

    def nearby(region: str) -> str:
        """A unit where the matter arose: of the region, or of the county above a township."""
        parent = directory.parent(region)
        pool = at.get(region, []) + (at.get(parent, []) if len(region) == 9 and parent else [])
        return rng.choice(pool or all_ids)

    out = []
    for _ in range(count):
        region = rng.choice(places)
        kind = rng.choices(kinds, kind_w)[0]
        accused = None
        if kind == "accusation":
            category = "misconduct"
            draw = rng.random()
            if draw < 0.65:
                accused = nearby(region)  # a unit where it happened
            elif draw < 0.90:
                accused = rng.choice(all_ids)  # any unit of the directory
        elif kind == "suggestion":
            category = "policy" if rng.random() < 0.6 else rng.choices(cats, cat_w)[0]
        else:
            category = rng.choices(cats, cat_w)[0]
            if category != "misconduct" and rng.random() < 0.03:
                accused = nearby(region) if rng.random() < 0.7 else rng.choice(all_ids)
        draw = rng.random()
        lo, hi = next((lo, hi) for share, lo, hi in HEADCOUNTS if draw < share)
        headcount = rng.randint(lo, hi)
        body = rng.choice(TEMPLATES).format(s=SUBJECTS[category])
        if rng.random() < MAJOR_TEXT_SHARE:
            body += f"现场有{rng.choice(keywords)}风险。"
        out.append(
            {
                "region_code": region,
                "category": category,
                "kind": kind,
                "accused_unit_id": accused,
                "headcount": headcount,
                "text": f"{SUBJECTS[category]}\n{body}",
            }
        )
    return out


def measure_decisions(units: list[Unit], directory: Directory, count: int) -> dict[str, Any]:
    petitions = make_petitions(units, directory, count, SEED)
    warmup = make_petitions(units, directory, min(1_000, count), SEED + 1)
    for p in warmup:  # rules loaded, code paths warm; not counted
        decide(**p, directory=directory)
    del warmup
    threshold = Rules.default().headcount
    outcomes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    no_unit = major = major_by_headcount = with_co = violations = accusations_named = 0
    samples: list[dict[str, Any]] = []
    ns = [0] * len(petitions)
    clock = time.perf_counter_ns
    gc_before = [g["collections"] for g in gc.get_stats()]
    for i, p in enumerate(petitions):
        t0 = clock()
        d = decide(**p, directory=directory)
        ns[i] = clock() - t0
        outcomes[d.outcome] += 1
        kinds[p["kind"]] += 1
        no_unit += d.lead_unit_id is None
        with_co += bool(d.co_unit_ids)
        major += d.major
        major_by_headcount += p["headcount"] >= threshold
        accused = p["accused_unit_id"]
        if accused and (p["kind"] == "accusation" or p["category"] == "misconduct"):
            accusations_named += 1
            if accused == d.lead_unit_id or accused in d.co_unit_ids:
                violations += 1
                if len(samples) < 5:
                    samples.append({**p, "lead": d.lead_unit_id, "co": list(d.co_unit_ids)})
    gc_runs = [g["collections"] - b for g, b in zip(gc.get_stats(), gc_before, strict=True)]

    # Baseline: a dict lookup, as many calls, over unit ids drawn the same way.
    rng = random.Random(SEED)
    ids = [u.id for u in units]
    keys = [rng.choice(ids) for _ in range(len(petitions))]
    get = directory.get
    base = [0] * len(keys)
    for i, key in enumerate(keys):
        t0 = clock()
        get(key)
        base[i] = clock() - t0
    # What the timer itself adds to every sample.
    empty = [0] * len(keys)
    for i in range(len(keys)):
        t0 = clock()
        empty[i] = clock() - t0

    timing = distribution_us(ns)
    baseline = distribution_us(base)
    return {
        "count": len(petitions),
        "seed": SEED,
        "kinds": dict(kinds),
        "decide": timing,
        "decisions_per_second": round(len(ns) / (sum(ns) / 1e9)),
        "baseline_directory_get": baseline,
        "timer_only": distribution_us(empty),
        "gc_collections_during_decide": gc_runs,  # generations 0, 1, 2
        "p50_over_baseline": round(timing["p50_us"] / baseline["p50_us"], 1)
        if baseline["p50_us"]
        else None,
        "outcomes": {k: outcomes.get(k, 0) for k in ("routed", "diverted", "triage")},
        "no_unit_named": no_unit,
        "with_co_units": with_co,
        "major": major,
        "major_by_headcount": major_by_headcount,
        "accusations_with_accused_unit": accusations_named,
        "accused_unit_violations": violations,
        "violation_samples": samples,
    }


# -- output --


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def load_average() -> str:
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg()) + " (1, 5, 15 min)"
    except OSError:
        return "unknown"


def _x(value: float, base: float) -> str:
    return f"{value / base:,.1f}" if base else "-"


def print_table(result: dict[str, Any]) -> None:
    setup = result["setup"]
    print(f"Xinfang routing benchmark ({setup['started']})")
    for key, value in setup.items():
        if key != "started":
            print(f"  {key}: {value}")

    load = result["load"]
    steps = load["steps"]
    base = steps["plain_dict"]["median_ms"]
    print()
    print(
        f"1. Directory load: {load['units']:,} units over {load['regions']:,} regions "
        f"(first run, then median and min of {load['rounds']} warm rounds)"
    )
    header = f"{'step':<40}{'first ms':>10}{'median ms':>11}{'min ms':>9}{'x dict':>8}"
    print(header)
    print("-" * len(header))
    print(f"{'region data (RegionDirectory, cold)':<40}{load['region_data_ms_cold']:>10,.1f}")
    for name, key in (
        ("generate()", "generate"),
        ("Directory(units)", "directory"),
        ("{unit.id: unit} (baseline)", "plain_dict"),
    ):
        s = steps[key]
        print(
            f"{name:<40}{s['first_ms']:>10,.1f}{s['median_ms']:>11,.1f}{s['min_ms']:>9,.1f}"
            f"{_x(s['median_ms'], base):>8}"
        )
    for key in ("sqlite", "postgresql"):
        db = result["databases"].get(key)
        if db is None:
            continue
        print()
        if "skipped" in db or "failed" in db:
            print(f"{db.get('database', 'PostgreSQL')}: {db.get('skipped') or db['failed']}")
            continue
        size = f"file {db['file_mb']} MB" if "file_mb" in db else f"table {db['table_mb']} MB"
        print(f"{db['database']}: {db['count']:,} rows, {size}")
        header = f"{'step':<52}{'ms':>10}{'x dict':>8}"
        print(header)
        print("-" * len(header))
        for name, k in (
            ("migrations (alembic upgrade head)", "migrate_ms"),
            ("seed: generate() + insert every unit", "seed_ms"),
            ("seed again (no-op: generate() + version check)", "reseed_ms"),
            ("Jurisdiction().load: SELECT + Unit + Directory", "load_ms"),
            ("  of which SELECT * FROM units alone", "select_ms"),
        ):
            print(f"{name:<52}{db[k]:>10,.1f}{_x(db[k], base):>8}")

    dec = result["decisions"]
    t, b, e = dec["decide"], dec["baseline_directory_get"], dec["timer_only"]
    print()
    print(
        f"2. decide(): {dec['count']:,} petitions (random.Random({dec['seed']})), one call "
        "each, timed with perf_counter_ns"
    )
    header = f"{'operation':<34}{'p50 µs':>10}{'p99 µs':>10}{'mean µs':>10}{'max µs':>11}"
    print(header)
    print("-" * len(header))
    for name, s in (
        ("decide()", t),
        ("Directory.get(id) (baseline)", b),
        ("timer only (perf_counter_ns x2)", e),
    ):
        print(
            f"{name:<34}{s['p50_us']:>10,.2f}{s['p99_us']:>10,.2f}{s['mean_us']:>10,.2f}"
            f"{s['max_us']:>11,.1f}"
        )
    print(
        f"decide() p50 / get() p50: {dec['p50_over_baseline']}x; "
        f"{dec['decisions_per_second']:,} decisions/s on one core (sum of the call times); "
        f"garbage collections meanwhile (gen 0/1/2): "
        + "/".join(str(n) for n in dec["gc_collections_during_decide"])
    )
    kinds = ", ".join(f"{k} {v:,}" for k, v in dec["kinds"].items())
    outcomes = ", ".join(f"{k} {v:,}" for k, v in dec["outcomes"].items())
    print(f"kinds: {kinds}")
    print(
        f"outcomes: {outcomes}; no unit named {dec['no_unit_named']:,}; "
        f"with co-handling units {dec['with_co_units']:,}; major {dec['major']:,} "
        f"({dec['major_by_headcount']:,} by head count)"
    )
    print(
        f"accusations naming an accused unit: {dec['accusations_with_accused_unit']:,}; "
        f"handled or co-handled by the accused unit: {dec['accused_unit_violations']}"
    )
    for sample in dec["violation_samples"]:
        print(f"  VIOLATION: {sample}")

    mem = result["memory"]
    print()
    print("3. Memory: process RSS after each step (gc.collect() first)")
    header = f"{'point':<34}{'VmRSS MB':>10}{'delta MB':>10}{'ru_maxrss MB':>14}"
    print(header)
    print("-" * len(header))
    deltas = mem["deltas_mb"]
    for name, key, delta in (
        ("before loading (imports done)", "before_loading", None),
        ("after region data", "after_region_data", "region_data"),
        ("after generate()", "after_generate", "generate"),
        ("after Directory(units)", "after_directory", "directory"),
        ("after {unit.id: unit} (baseline)", "after_plain_dict", "plain_dict (baseline)"),
    ):
        d = f"{deltas[delta]:+,.1f}" if delta else ""
        print(f"{name:<34}{mem[key]['vm_rss_mb']:>10,.1f}{d:>10}{mem[key]['max_rss_mb']:>14,.1f}")
    print()
    print(f"load average after the run: {result['load_after']}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--count", type=int, default=100_000, help="petitions decided (100000)")
    p.add_argument("--rounds", type=int, default=3, help="warm rounds of the load steps (3)")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per database (600)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    args = p.parse_args(argv)
    if not 1 <= args.count <= 1_000_000:
        p.error("--count must be between 1 and 1000000")
    if not 1 <= args.rounds <= 20:
        p.error("--rounds must be between 1 and 20")
    if not 1 <= args.timeout <= 3_600:
        p.error("--timeout must be between 1 and 3600")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    result: dict[str, Any] = {
        "count": args.count,
        "setup": {
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "machine": f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
            "load average before": load_average(),
        },
    }
    var_dir = Path(tempfile.mkdtemp(prefix="xinfang-bench-routing-"))
    try:
        say("loading the directory in memory (RSS at each step) ...")
        units, directory, loaded = measure_load(args.rounds)
        result.update(loaded)
        say(f"deciding {args.count:,} petitions ...")
        result["decisions"] = measure_decisions(units, directory, args.count)
        result["databases"] = measure_databases(units, var_dir, args.timeout)
        result["load_after"] = load_average()
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False))
    else:
        print_table(result)
    failed = any("failed" in db for db in result["databases"].values())
    return 1 if failed or result["decisions"]["accused_unit_violations"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
