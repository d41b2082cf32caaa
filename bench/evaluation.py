"""Evaluation benchmark: scorecards and the situation over ten million cases' worth of rows.

In a scratch PostgreSQL database (``XINFANG_BENCH_POSTGRES_URL``, migrated to head, dropped at
the end) it writes ``--cases`` petitions (10,000,000) of one year as evaluation would hold them
after consuming their events: ``case_reads``, ``scorecard_cases`` (each case's facts and what
it added, as ``evaluation.rollups.refresh`` leaves them) and ``scorecard_rollups`` (the sums of
those contributions per unit, county, prefecture, province and the country, day and
category), loaded with asyncpg COPY. Then it times, through the analytics API in this process
(FastAPI app behind ``httpx.ASGITransport``, operator token): the country's, a province's and a
unit's scorecard for the year, and the situation of a month for the country and a province;
beside the baselines of the same run: a plain ``count(*)`` over ``scorecard_rollups`` and over
``case_reads``, and the country's year summed from one row per case (what answering without
rollups would read). Last, the cost of keeping the rollups: ``tracking.case.accepted.v1``
events applied through evaluation's consumer path with and without the rollup refresh.

Run from the repository root: ``XINFANG_BENCH_POSTGRES_URL=... .venv/bin/python
bench/evaluation.py [--cases N] [--json]``.
"""

from __future__ import annotations

import os
import sys

# Run as ``python bench/evaluation.py``, this file's directory is first on sys.path and this
# very file would shadow the ``evaluation`` package: take the directory off before importing.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import asyncio  # noqa: E402
import bisect  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Awaitable, Callable, Iterator  # noqa: E402
from datetime import date, datetime, timedelta  # noqa: E402
from datetime import time as clock  # noqa: E402
from typing import Any, NamedTuple  # noqa: E402

import httpx  # noqa: E402
from fastapi import FastAPI  # noqa: E402
from sqlalchemy import text  # noqa: E402

from evaluation.analytics_api import router  # noqa: E402
from evaluation.handlers import handlers as base_handlers  # noqa: E402
from evaluation.models import messaging  # noqa: E402
from evaluation.rollups import with_analytics  # noqa: E402
from evaluation.scorecard import MEASURES, backlog_from, contribution  # noqa: E402
from services.devkit import create_scratch_database, drop_scratch_database  # noqa: E402
from shared.auth import mint_token  # noqa: E402
from shared.contracts import CaseAccepted  # noqa: E402
from shared.db import Database  # noqa: E402
from shared.events import new_envelope, parse_data  # noqa: E402
from shared.messaging.consumer import EventConsumer  # noqa: E402
from shared.migrations import upgrade  # noqa: E402
from shared.regions import RegionDirectory  # noqa: E402
from shared.service import install_http_basics  # noqa: E402
from shared.settings import CommonSettings  # noqa: E402
from shared.vocabulary import CST  # noqa: E402

POSTGRES_ENV = "XINFANG_BENCH_POSTGRES_URL"
YEAR = date(2025, 1, 1)
TODAY = date(2026, 1, 15)  # the scorecards' today: every case of the year is 2 weeks old or more
BACKLOG_DAYS = 90
CHUNK = 250_000
# Category -> the function of the unit that handles it (routing's lead functions, simplified);
# litigation is diverted (no unit), policy and other go to the petition bureau's triage
FUNCTION = {
    "wage_arrears": ("hrss", 12),
    "labour_dispute": ("hrss", 6),
    "social_insurance": ("hrss", 7),
    "housing_quality": ("housing", 5),
    "property_management": ("housing", 6),
    "land_acquisition": ("natural_resources", 8),
    "rural_land": ("agriculture", 5),
    "agriculture": ("agriculture", 2),
    "pollution": ("ecology", 5),
    "urban_order": ("urban_management", 5),
    "transport": ("transport", 3),
    "health": ("health", 3),
    "education": ("education", 3),
    "social_assistance": ("civil_affairs", 4),
    "consumer": ("market_regulation", 3),
    "safety_hazard": ("emergency", 2),
    "public_order": ("public_security", 3),
    "government_arrears": ("finance", 2),
    "veterans": ("veterans", 1),
    "water": ("water", 1),
    "misconduct": ("discipline", 4),
    "litigation": (None, 3),
    "policy": ("petition_bureau", 2),
    "other": ("petition_bureau", 4),
}
CATEGORIES = list(FUNCTION)
CUMULATIVE = [sum(FUNCTION[c][1] for c in CATEGORIES[: i + 1]) for i in range(len(CATEGORIES))]
CASE_COLUMNS = [
    "case_id",
    "tracking_number",
    "status",
    "kind",
    "channel",
    "category",
    "region_code",
    "unit_id",
    "anonymous",
    "identity_unclear",
    "registered_at",
    "routed_at",
    "acceptance_due",
    "updated_at",
    "received_at",
    "owner_ref",
    "query_code_hash",
    "repeat_of",
    "collective_id",
    "track",
    "accepted_at",
    "reply_due",
    "extension_days",
    "replied_at",
    "concluded_at",
    "supervision_count",
]


class Case(NamedTuple):  # the columns of case_reads, in CASE_COLUMNS order
    case_id: str
    tracking_number: str
    status: str
    kind: str
    channel: str
    category: str
    region_code: str
    unit_id: str | None
    anonymous: bool
    identity_unclear: bool
    registered_at: datetime
    routed_at: datetime | None
    acceptance_due: date | None
    updated_at: datetime
    received_at: datetime
    owner_ref: str
    query_code_hash: str
    repeat_of: str | None
    collective_id: str | None
    track: str | None
    accepted_at: datetime | None
    reply_due: date | None
    extension_days: int | None
    replied_at: datetime | None
    concluded_at: datetime | None
    supervision_count: int


class Facts(NamedTuple):  # scorecard_cases without case_id, backlog_from and applied
    acceptance_overdue_unit: str | None
    acceptance_overdue_due: date | None
    handling_overdue_unit: str | None
    handling_overdue_due: date | None
    acceptance_rating: str | None
    reply_rating: str | None


FACT_COLUMNS = ["case_id", *Facts._fields, "backlog_from", "applied"]
STAGE_COLUMNS = ["day", "category", "unit_id", "r0", "r1", "r2", "r3", *MEASURES]


def moment(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, clock(rng.randint(8, 17), rng.randint(0, 59)), CST)


def rating(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.6:  # rated: 70% satisfied, 20% basically, 10% dissatisfied
        level = rng.random()
        return (
            "satisfied" if level < 0.7 else "basically_satisfied" if level < 0.9 else "dissatisfied"
        )
    return "not_rated" if roll < 0.9 else None  # else the window is still open


class Generator:
    """Petitions of 2025: uniform over days and the 2,847 counties (half of them at a
    township), categories weighted as in FUNCTION; 4% are petitioned again (a repeat petition
    10-60 days later, in the same year); 0.3% start a collective cluster of 5-15 petitions
    (same county, category and day). Of the routed cases 3% are not accepted and 2%
    withdrawn; the others are accepted 1-20 days after routing (deadline 15), 80% of those
    replied 5-75 days later (deadline 60; 10% extended by 30 days), 75% of the replied closed
    31 days later; 2% are never accepted; steps after TODAY do not happen, and a deadline
    passed without its step is an overdue clock. Supervision on 5% (one) and 1% (two) of the
    cases neither refused nor withdrawn; ratings of each moment reached (grievances): 60%
    rated (70% satisfied, 20% basically, 10% dissatisfied), 30% not rated, 10% still open."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        directory = RegionDirectory.default()
        self.counties = sorted(r.short for r in directory if r.level == "county")
        townships: dict[str, list[str]] = {}
        for r in directory:
            if r.level == "township":
                townships.setdefault(r.short[:6], []).append(r.short)
        self.townships = townships
        self.sequence: dict[tuple[str, date], int] = {}
        self.now = datetime.now(CST)
        self.open_routed: list[tuple[str, str, str]] = []  # for the event timings

    def _id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _number(self, county: str, day: date) -> str:
        """County, day, sequence as in a tracking number; the check character is a placeholder
        (computing it is a third of the generation time and nothing reads it here)."""
        n = self.sequence[(county, day)] = self.sequence.get((county, day), 0) + 1
        return f"{county}{day.year % 100:02d}{day.month:02d}{day.day:02d}{n:05d}0"

    def petitions(self, n: int) -> Iterator[tuple[Case, Facts, bool]]:
        rng, made, cluster = self.rng, 0, None
        while made < n:
            if cluster and cluster[3] > 0:
                county, category, day, left, cid = cluster
                cluster = (county, category, day, left - 1, cid)
            else:
                county = rng.choice(self.counties)
                category = CATEGORIES[bisect.bisect(CUMULATIVE, rng.random() * CUMULATIVE[-1])]
                day = YEAR + timedelta(days=rng.randrange(365))
                cid = None
                if rng.random() < 0.003:
                    cid = self._id()
                    cluster = (county, category, day, rng.randint(4, 14), cid)
            repeated = rng.random() < 0.04 and made + 1 < n
            case, facts = self._case(county, category, day, cid)
            yield case, facts, repeated
            made += 1
            if repeated:
                yield self._repeat(case, day), Facts(*([None] * 6)), False
                made += 1

    def _region(self, county: str) -> str:
        towns = self.townships.get(county)
        return self.rng.choice(towns) if towns and self.rng.random() < 0.5 else county

    def _case(self, county: str, category: str, day: date, cid: str | None) -> tuple[Case, Facts]:
        rng = self.rng
        received = moment(day, rng)
        base: dict[str, Any] = dict.fromkeys(Case._fields)
        base |= {
            "case_id": self._id(),
            "tracking_number": self._number(county, day),
            "kind": "accusation" if category == "misconduct" else "grievance",
            "channel": "web",
            "category": category,
            "region_code": self._region(county),
            "anonymous": False,
            "identity_unclear": False,
            "registered_at": received,
            "updated_at": self.now,
            "received_at": received,
            "owner_ref": "owner",
            "query_code_hash": "h",
            "collective_id": cid,
            "supervision_count": 0,
        }
        function = FUNCTION[category][0]
        facts: dict[str, Any] = dict.fromkeys(Facts._fields)
        if function is None:
            base |= {"status": "diverted", "concluded_at": received + timedelta(days=1)}
            return Case(**base), Facts(**facts)
        unit = f"{county}:{function}"
        routed = received + timedelta(days=rng.randint(0, 2))
        base |= {"unit_id": unit, "routed_at": routed, "status": "routed"}
        if function == "petition_bureau":
            base["status"] = "triage"
            return Case(**base), Facts(**facts)
        due = routed.date() + timedelta(days=15)
        base["acceptance_due"] = due
        roll = rng.random()
        if roll < 0.05:  # not accepted, or withdrawn, before the deadline
            status = "not_accepted" if roll < 0.03 else "withdrawn"
            end = routed + timedelta(days=rng.randint(1, 14))
            base |= {"status": status, "concluded_at": end}
            return Case(**base), Facts(**facts)
        # 2% never accepted (left at the unit: the acceptance clock runs out)
        late = timedelta(days=10_000) if rng.random() < 0.02 else timedelta(0)
        accepted = routed + timedelta(days=rng.randint(1, 20)) + late
        supervision = rng.random()
        base["supervision_count"] = 2 if supervision < 0.01 else 1 if supervision < 0.06 else 0
        if accepted.date() > TODAY:
            if due < TODAY:
                facts |= {"acceptance_overdue_unit": unit, "acceptance_overdue_due": due}
            if len(self.open_routed) < 100_000:
                self.open_routed.append((base["case_id"], base["tracking_number"], unit))
            return Case(**base), Facts(**facts)
        extended = rng.random() < 0.1
        reply_due = accepted.date() + timedelta(days=60 + (30 if extended else 0))
        base |= {
            "status": "extended" if extended else "in_progress",
            "track": "general",
            "accepted_at": accepted,
            "reply_due": reply_due,
            "extension_days": 30 if extended else None,
        }
        facts["acceptance_rating"] = rating(rng) if base["kind"] == "grievance" else None
        replied = accepted + timedelta(days=rng.randint(5, 75))
        if rng.random() >= 0.8 or replied.date() > TODAY:
            if reply_due < TODAY:
                facts |= {"handling_overdue_unit": unit, "handling_overdue_due": reply_due}
            return Case(**base), Facts(**facts)
        base |= {"status": "replied", "replied_at": replied}
        facts["reply_rating"] = rating(rng) if base["kind"] == "grievance" else None
        closed = replied + timedelta(days=31)
        if rng.random() < 0.75 and closed.date() <= TODAY:
            base |= {"status": "closed", "concluded_at": closed}
        return Case(**base), Facts(**facts)

    def _repeat(self, original: Case, day: date) -> Case:
        later = min(day + timedelta(days=self.rng.randint(10, 60)), date(2025, 12, 31))
        received = moment(later, self.rng)
        county = original.region_code[:6]
        return original._replace(
            case_id=self._id(),
            tracking_number=self._number(county, later),
            status="linked_duplicate",
            unit_id=None,
            routed_at=None,
            acceptance_due=None,
            registered_at=received,
            received_at=received,
            repeat_of=original.case_id,
            collective_id=None,
            track=None,
            accepted_at=None,
            reply_due=None,
            extension_days=None,
            replied_at=None,
            concluded_at=received,
            supervision_count=0,
        )


def rows_of(case: Case, facts: Facts, repeated: bool) -> tuple[tuple, tuple]:
    """The scorecard_cases row and the per-case contribution row (for the rollups)."""
    c = contribution(case, facts, repeated=repeated, today=TODAY, backlog_days=BACKLOG_DAYS)
    watch = None if c.measures.get("backlog") else backlog_from(case, BACKLOG_DAYS)
    regions = [*c.regions, None, None, None][:4]
    stage = (c.day, c.category, c.unit_id, *regions, *(c.measures.get(m, 0) for m in MEASURES))
    return (case.case_id, *facts, watch, c.dump()), stage


async def copy(db: Database, table: str, columns: list[str], rows: list) -> None:
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        await raw.copy_records_to_table(table, records=rows, columns=columns)
        await conn.commit()


async def sql(db: Database, statement: str, **params: Any) -> Any:
    async with db.transaction() as s:
        result = await s.execute(text(statement), params)
        return result.scalar() if result.returns_rows else None


STAGE_DDL = (
    "CREATE UNLOGGED TABLE bench_contributions (day date, category varchar(50), unit_id "
    "varchar(100), r0 varchar(12), r1 varchar(12), r2 varchar(12), r3 varchar(12), "
    + ", ".join(f"{m} integer" for m in MEASURES)
    + ")"
)


def rollup_insert(scope: str, key: str) -> str:
    sums = ", ".join(f"sum({m})" for m in MEASURES)
    update = ", ".join(f"{m} = scorecard_rollups.{m} + excluded.{m}" for m in MEASURES)
    return (
        f"INSERT INTO scorecard_rollups (scope, scope_id, day, category, {', '.join(MEASURES)}) "
        f"SELECT '{scope}', {key}, day, category, {sums} FROM bench_contributions "
        f"WHERE {key} IS NOT NULL GROUP BY {key}, day, category "
        f"ON CONFLICT (scope, scope_id, day, category) DO UPDATE SET {update}"
    )


async def load(db: Database, n: int, seed: int) -> tuple[dict[str, Any], Generator]:
    gen = Generator(seed)
    out: dict[str, Any] = {"generate_s": 0.0, "copy_s": 0.0}
    await sql(db, STAGE_DDL)
    batch: tuple[list, list, list] = ([], [], [])
    started = time.perf_counter()

    async def flush() -> None:
        nonlocal started
        out["generate_s"] += time.perf_counter() - started
        t = time.perf_counter()
        await copy(db, "case_reads", CASE_COLUMNS, batch[0])
        await copy(db, "scorecard_cases", FACT_COLUMNS, batch[1])
        await copy(db, "bench_contributions", STAGE_COLUMNS, batch[2])
        out["copy_s"] += time.perf_counter() - t
        for rows in batch:
            rows.clear()
        started = time.perf_counter()

    for made, (case, facts, repeated) in enumerate(gen.petitions(n), 1):
        fact_row, stage_row = rows_of(case, facts, repeated)
        batch[0].append(case)
        batch[1].append(fact_row)
        batch[2].append(stage_row)
        if len(batch[0]) >= CHUNK:
            await flush()
            print(f"  {made:,} petitions loaded", file=sys.stderr, flush=True)
    await flush()
    t = time.perf_counter()
    await sql(db, rollup_insert("unit", "unit_id"))
    for key in ("r0", "r1", "r2", "r3"):
        await sql(db, rollup_insert("region", key))
    out["rollups_s"] = time.perf_counter() - t
    await sql(db, "ANALYZE")
    for table in ("case_reads", "scorecard_cases", "scorecard_rollups", "bench_contributions"):
        out[f"{table}_rows"] = await sql(db, f"SELECT count(*) FROM {table}")
        size = await sql(db, f"SELECT pg_total_relation_size('{table}')")
        out[f"{table}_mb"] = round(size / 2**20)
    return out, gen


async def median_of(rounds: int, fn: Callable[[], Awaitable[Any]]) -> float:
    await fn()  # warm
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def app_for(db: Database, settings: CommonSettings) -> FastAPI:
    app = FastAPI()
    install_http_basics(app, "evaluation")
    app.include_router(router)
    app.state.db, app.state.settings = db, settings
    return app


async def get(client: httpx.AsyncClient, path: str, **params: str) -> None:
    r = await client.get(f"/api/v1/analytics/{path}", params=params)
    assert r.status_code == 200, r.text


async def apply_events(
    db: Database, settings: CommonSettings, cases: list[tuple[str, str, str]], rollups: bool
) -> float:
    """Seconds per tracking.case.accepted.v1 applied as the consumer applies it."""
    base = base_handlers(settings)
    handlers = with_analytics(base, settings, today=lambda: TODAY) if rollups else base
    consumer = EventConsumer(db, messaging, settings, "evaluation", [], handlers)
    accepted = datetime.combine(TODAY, clock(10), CST)
    started = time.perf_counter()
    for case_id, number, unit in cases:
        data = CaseAccepted(
            case_id=case_id,
            tracking_number=number,
            unit_id=unit,
            track="general",
            accepted_at=accepted,
            reply_due=TODAY + timedelta(days=60),
        )
        envelope = new_envelope(data, subject=case_id, correlation_id=case_id)
        assert (
            await consumer.apply(envelope, parse_data(envelope), handlers[data.TYPE]) == "applied"
        )
    return (time.perf_counter() - started) / len(cases)


async def measure(admin: str, args: argparse.Namespace) -> dict[str, Any]:
    url = await create_scratch_database(admin, "xfbench")
    db = Database(url)
    settings = CommonSettings(topic_prefix="bench", backlog_days=BACKLOG_DAYS)
    out: dict[str, Any] = {"cases": args.cases}
    try:
        await upgrade(db, "evaluation")
        out["load"], gen = await load(db, args.cases, args.seed)
        token = mint_token(settings, role="operator", sub="bench")
        year = {"from": "2025-01-01", "to": "2025-12-31"}
        month = {"from": "2025-06-01", "to": "2025-06-30"}
        unit = await sql(
            db,
            "SELECT scope_id FROM scorecard_rollups WHERE scope = 'unit' GROUP BY scope_id "
            "ORDER BY sum(received) DESC LIMIT 1",
        )
        out["unit"] = unit
        r = args.rounds
        transport = httpx.ASGITransport(app=app_for(db, settings))
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://evaluation", headers=headers, timeout=600
        ) as client:
            timings = {
                "scorecard, country, year": lambda: get(client, "scorecards", **year),
                "scorecard, province 440000, year": lambda: get(
                    client, "scorecards", region="440000", **year
                ),
                f"scorecard, unit {unit}, year": lambda: get(
                    client, "scorecards", unit=unit, **year
                ),
                "scorecards of the 34 provinces, year": lambda: get(
                    client, "scorecards", breakdown="children", **year
                ),
                "situation, country, June": lambda: get(client, "situation", **month),
                "situation, province 440000, June": lambda: get(
                    client, "situation", region="440000", **month
                ),
                "baseline: count(*) scorecard_rollups": lambda: sql(
                    db, "SELECT count(*) FROM scorecard_rollups"
                ),
                "baseline: count(*) case_reads": lambda: sql(db, "SELECT count(*) FROM case_reads"),
                "baseline: country's year from one row per case": lambda: sql(
                    db,
                    "SELECT " + ", ".join(f"sum({m})" for m in MEASURES) + " FROM "
                    "bench_contributions WHERE day BETWEEN '2025-01-01' AND '2025-12-31'",
                ),
            }
            out["queries_ms"] = {}
            for name, fn in timings.items():
                out["queries_ms"][name] = round(await median_of(r, fn) * 1000, 2)
        k = args.events
        sample = gen.open_routed[: 2 * k]
        out["events"] = len(sample) // 2
        if sample:
            without = await apply_events(db, settings, sample[: len(sample) // 2], False)
            with_ = await apply_events(db, settings, sample[len(sample) // 2 :], True)
            out["event_ms"] = {"without rollups": round(without * 1000, 3)}
            out["event_ms"]["with rollups"] = round(with_ * 1000, 3)
    finally:
        await db.dispose()
        await drop_scratch_database(admin, url)
    return out


def show(result: dict[str, Any]) -> None:
    load = result["load"]
    print(f"evaluation benchmark: {result['cases']:,} petitions (PostgreSQL)")
    print(
        f"  load: generate {load['generate_s']:.0f} s, COPY {load['copy_s']:.0f} s, "
        f"rollups {load['rollups_s']:.0f} s"
    )
    for table in ("case_reads", "scorecard_cases", "scorecard_rollups", "bench_contributions"):
        print(f"  {table:<22}{load[table + '_rows']:>14,} rows {load[table + '_mb']:>8,} MB")
    print(f"  {'query (median of the rounds)':<52}{'ms':>10}")
    for name, ms in result["queries_ms"].items():
        print(f"  {name:<52}{ms:>10,.2f}")
    if "event_ms" in result:
        print(f"  tracking.case.accepted.v1 applied, {result['events']} each (ms per event):")
        for name, ms in result["event_ms"].items():
            print(f"    {name:<50}{ms:>10,.3f}")


async def stoppable(work: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """SIGTERM and SIGINT cancel the run, so its scratch database is dropped on the way out."""
    task = asyncio.ensure_future(work)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    return await task


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=10_000_000, help="petitions (10,000,000)")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds per query (5)")
    p.add_argument("--events", type=int, default=1000, help="events per variant (1,000)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--json", action="store_true", help="print one JSON object instead")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    admin = os.environ.get(POSTGRES_ENV)
    if not admin:
        print(
            f"set {POSTGRES_ENV} (an admin DSN): the benchmark runs on PostgreSQL", file=sys.stderr
        )
        return 1
    try:
        result = asyncio.run(stoppable(measure(admin, args)))
    except asyncio.CancelledError:
        print("stopped (the scratch database is dropped)", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(result, indent=2, ensure_ascii=False, default=str))
    else:
        show(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
