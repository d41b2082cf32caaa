"""``make bench``: runs every benchmark of bench/ and writes BENCHMARKS.md.

Starts what the benchmarks need unless the environment names it, as ``.ci/run`` does:

* PostgreSQL: ``XINFANG_BENCH_POSTGRES_URL`` (an admin DSN) if set; else the server on
  127.0.0.1:5432 with the xinfang account if it answers; else ``deploy/postgres/postgres.sh
  install start`` (root), stopped again at the end if this run started the server.
* Apache Kafka: ``XINFANG_KAFKA_BOOTSTRAP_SERVERS`` if set; else a broker of its own,
  ``deploy/kafka/kafka.sh fetch start`` with ``XINFANG_KAFKA_HOME=var/kafka-bench`` on
  127.0.0.1:39092 (controller 39093), so that it never meets the broker of ``.ci/run`` or the
  tests (19092) or ``make run`` (9092); its jars are hard-linked from ``var/kafka/libs`` when
  that holds the jars of the same ``deploy/kafka/pom.xml``, else fetched with Maven. Stopped
  at the end.

Then runs each benchmark with ``--json`` and report-sized parameters (``BENCHES``), one after
the other, its figures in ``var/bench/<name>.json`` and its progress in ``var/bench/<name>.log``,
and writes BENCHMARKS.md: the machine, the date, the commit, and for every figure the command
that reproduces it, the value, the baseline measured in the same run and the ratio.

    .venv/bin/python bench/report.py [--only e2e,intake] [--output BENCHMARKS.md]

Exit status 0 when every benchmark wrote its figures (a benchmark whose figures include
failed requests says so in BENCHMARKS.md); 1 when one of them produced none. BENCHMARKS.md is
written either way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import os
import platform
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "var" / "bench"
PYTHON = ".venv/bin/python"
DEFAULT_POSTGRES = "postgresql+asyncpg://xinfang:xinfang@127.0.0.1:5432/postgres"
KAFKA_HOME = ROOT / "var" / "kafka-bench"
KAFKA_PORT, KAFKA_CONTROLLER_PORT = 39092, 39093
QUIET_WAIT = 45.0  # seconds to wait at most for other work to quieten before a benchmark
QUIET_BUSY = 0.5  # "quiet": at most this share of all CPUs busy over two seconds


@dataclass
class Bench:
    name: str
    args: list[str]
    kafka: bool  # runs on the Apache Kafka broker (else: embedded tansu, or no broker)
    postgres: bool
    timeout: float  # seconds
    title: str
    quiet_wait: float | None = None  # seconds to wait for a quiet machine (None: --quiet-wait)


# Report-sized parameters: the whole of `make bench` in about 30 minutes on 2 shared cores.
BENCHES = [
    Bench(
        "e2e",
        [
            "bench/e2e.py",
            *("--count", "1000", "--reads", "2000", "--max-seconds", "240"),
            *("--upstream-timeout", "60", "--timeout", "900"),
        ],
        kafka=True,
        postgres=True,
        timeout=2400,
        title="End to end: the suite on PostgreSQL + Apache Kafka, through the gateway",
        quiet_wait=120,  # the headline figures: worth waiting for other test runs to end
    ),
    Bench(
        "submit_flow",
        ["bench/submit_flow.py", "--count", "400"],
        kafka=False,
        postgres=False,
        timeout=600,
        title="Submit flow on the development defaults (embedded tansu, SQLite)",
    ),
    Bench(
        "intake",
        ["bench/intake.py", "--count", "200"],
        kafka=True,
        postgres=True,
        timeout=900,
        title="Intake alone: submissions, and its pure functions",
    ),
    Bench(
        "routing",
        ["bench/routing.py", "--count", "100000"],
        kafka=False,
        postgres=True,
        timeout=900,
        title="Routing: the unit directory and decide()",
    ),
    Bench(
        "tracking",
        ["bench/tracking.py", "--cases", "200000"],
        kafka=True,
        postgres=True,
        timeout=1200,
        title="Tracking: the clock scan, and case reads",
    ),
    Bench(
        "evaluation",
        ["bench/evaluation.py", "--cases", "500000", "--rounds", "5", "--events", "1000"],
        kafka=False,
        postgres=True,
        timeout=1500,
        title="Evaluation: scorecards and the situation",
    ),
]


@dataclass
class Run:
    bench: Bench
    command: str
    started: str = ""
    seconds: float = 0.0
    exit_code: int | None = None
    load_before: list[float] = field(default_factory=list)
    load_after: list[float] = field(default_factory=list)
    busy_before: float | None = None  # share of all CPUs busy just before it started
    waited: float = 0.0
    result: dict[str, Any] | None = None
    tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.result is not None

    @property
    def measured(self) -> bool:
        """It wrote its figures, though some requests may have failed (exit status 1)."""
        return self.result is not None


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# -- machine --


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def cpu_busy(window: float = 2.0) -> float:
    """Share of all CPUs busy over ``window`` seconds (from /proc/stat)."""

    def read() -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = values[3] + values[4]
        return sum(values) - idle, sum(values)

    busy1, total1 = read()
    time.sleep(window)
    busy2, total2 = read()
    return (busy2 - busy1) / max(1, total2 - total1)


def busy_processes(window: float = 2.0, floor: float = 0.1) -> list[str]:
    """Processes using more than ``floor`` of a CPU over ``window`` seconds (name, share)."""

    def snap() -> dict[int, tuple[str, int]]:
        out = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
            except OSError:
                continue
            fields = stat.rpartition(")")[2].split()
            out[int(entry.name)] = (
                cmd or stat.split("(")[1].split(")")[0],
                int(fields[11]) + int(fields[12]),
            )
        return out

    tick = os.sysconf("SC_CLK_TCK")
    first = snap()
    time.sleep(window)
    second = snap()
    busy = []
    for pid, (cmd, ticks) in second.items():
        used = (ticks - first.get(pid, (cmd, ticks))[1]) / tick / window
        if used >= floor and pid != os.getpid():
            busy.append((used, short_command(cmd)))
    return [f"{name} ({used:.0%} of a CPU)" for used, name in sorted(busy, reverse=True)[:6]]


def short_command(cmd: str) -> str:
    if "java" in cmd and "kafka.Kafka" in cmd:
        return "a Kafka broker (java kafka.Kafka " + cmd.rsplit(" ", 1)[-1] + ")"
    if "uvicorn" in cmd:
        app = next((w for w in cmd.split() if w.endswith(":create_app")), "an app")
        return f"uvicorn {app.split(':')[0]}"
    if "java" in cmd:
        return "java " + cmd.rsplit(" ", 1)[-1][:60]
    words = cmd.split()
    return " ".join(w.rsplit("/", 1)[-1] if i == 0 else w for i, w in enumerate(words))[:90]


def machine() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", Path("/proc/meminfo").read_text(), re.M)
    os_name = platform.system()
    with contextlib.suppress(OSError):
        release = Path("/etc/os-release").read_text()
        found = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', release, re.M)
        if found:
            os_name = found.group(1)
    java = "-"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["java", "-version"], capture_output=True, text=True, timeout=30)
        java = (out.stderr or out.stdout).splitlines()[0]
    return {
        "CPU": model.group(1).strip() if model else platform.processor() or "unknown",
        "cores": str(os.cpu_count()),
        "memory": f"{int(mem.group(1)) / 2**20:.1f} GiB" if mem else "unknown",
        "OS": f"{os_name}, Linux {platform.release()}",
        "Python": sys.version.split()[0],
        "Java": java,
    }


def git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


# -- PostgreSQL and Kafka --


async def _pg_version(url: str) -> str:
    import asyncpg
    from sqlalchemy.engine import make_url

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn, timeout=5)
    try:
        return await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()


def pg_version(url: str) -> str | None:
    try:
        return asyncio.run(_pg_version(url))
    except Exception:
        return None


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    import socket

    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


@dataclass
class Services:
    postgres_url: str = ""
    postgres_version: str = ""
    postgres_note: str = ""
    started_postgres: bool = False
    kafka: str = ""
    kafka_version: str = ""
    kafka_note: str = ""
    started_kafka: bool = False

    def kafka_env(self) -> dict[str, str]:
        return {
            "XINFANG_KAFKA_HOME": str(KAFKA_HOME),
            "KAFKA_PORT": str(KAFKA_PORT),
            "KAFKA_CONTROLLER_PORT": str(KAFKA_CONTROLLER_PORT),
        }

    def start(self, need_kafka: bool, need_postgres: bool) -> None:
        if need_postgres:
            self.start_postgres()
        if need_kafka:
            self.start_kafka()

    def start_postgres(self) -> None:
        given = os.environ.get("XINFANG_BENCH_POSTGRES_URL")
        if given:
            self.postgres_url, self.postgres_note = given, "given by XINFANG_BENCH_POSTGRES_URL"
        else:
            self.postgres_url = DEFAULT_POSTGRES
            if pg_version(DEFAULT_POSTGRES):
                self.postgres_note = "already running on 127.0.0.1:5432 (left running)"
            else:
                running = port_open(5432)
                say("PostgreSQL: deploy/postgres/postgres.sh install start")
                subprocess.run(
                    ["deploy/postgres/postgres.sh", "install", "start"], cwd=ROOT, check=True
                )
                self.started_postgres = not running
                self.postgres_note = (
                    "started by make bench (deploy/postgres/postgres.sh), stopped at the end"
                    if self.started_postgres
                    else "running; account set up by deploy/postgres/postgres.sh start"
                )
        version = pg_version(self.postgres_url)
        if version is None:
            raise RuntimeError(f"PostgreSQL does not answer at {self.postgres_url}")
        self.postgres_version = version

    def start_kafka(self) -> None:
        given = os.environ.get("XINFANG_KAFKA_BOOTSTRAP_SERVERS")
        if given:
            self.kafka, self.kafka_note = given, "given by XINFANG_KAFKA_BOOTSTRAP_SERVERS"
            return
        seed_kafka_libs()
        say(f"Kafka: deploy/kafka/kafka.sh fetch start (port {KAFKA_PORT}, {KAFKA_HOME})")
        out = subprocess.run(
            ["deploy/kafka/kafka.sh", "fetch", "start"],
            cwd=ROOT,
            env={**os.environ, **self.kafka_env()},
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        ).stdout
        self.started_kafka = True
        line = [x for x in out.splitlines() if x.startswith("XINFANG_KAFKA_BOOTSTRAP_SERVERS=")]
        if not line:
            raise RuntimeError("kafka.sh start printed no bootstrap address")
        self.kafka = line[-1].split("=", 1)[1]
        jars = sorted((KAFKA_HOME / "libs").glob("kafka_2.13-*.jar"))
        self.kafka_version = jars[0].name.removeprefix("kafka_2.13-").removesuffix(".jar")
        self.kafka_note = (
            f"started by make bench (deploy/kafka/kafka.sh, {KAFKA_HOME.relative_to(ROOT)}), "
            "stopped at the end"
        )

    def stop(self) -> None:
        if self.started_kafka:
            say("Kafka: deploy/kafka/kafka.sh stop")
            subprocess.run(
                ["deploy/kafka/kafka.sh", "stop"],
                cwd=ROOT,
                env={**os.environ, **self.kafka_env()},
                check=False,
            )
            self.started_kafka = False
        if self.started_postgres:
            say("PostgreSQL: deploy/postgres/postgres.sh stop")
            subprocess.run(["deploy/postgres/postgres.sh", "stop"], cwd=ROOT, check=False)
            self.started_postgres = False


def seed_kafka_libs() -> None:
    """Hard-link var/kafka/libs into var/kafka-bench/libs when it holds the jars of the same
    pom.xml (kafka.sh keeps their hash in libs/.pom.sha256): kafka.sh fetch then finds them up
    to date instead of downloading them again. Otherwise kafka.sh fetches them with Maven."""
    want = hashlib.sha256((ROOT / "deploy" / "kafka" / "pom.xml").read_bytes()).hexdigest()
    mine, theirs = KAFKA_HOME / "libs", ROOT / "var" / "kafka" / "libs"

    def current(libs: Path) -> bool:
        stamp = libs / ".pom.sha256"
        return (
            stamp.exists()
            and stamp.read_text().strip() == want
            and any(libs.glob("kafka_2.13-*.jar"))
        )

    if current(mine) or not current(theirs):
        return
    KAFKA_HOME.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(mine, ignore_errors=True)
    try:
        subprocess.run(["cp", "-al", str(theirs), str(mine)], check=True, capture_output=True)
    except subprocess.CalledProcessError:  # another file system: copy instead
        shutil.rmtree(mine, ignore_errors=True)
        shutil.copytree(theirs, mine)
    say(f"Kafka: jars linked from {theirs.relative_to(ROOT)}")


# -- running the benchmarks --


def command_line(bench: Bench, services: Services) -> tuple[list[str], dict[str, str], str]:
    """argv, environment, and the command as a reader would type it."""
    env = dict(os.environ)
    shown = []
    if bench.postgres:
        env["XINFANG_BENCH_POSTGRES_URL"] = services.postgres_url
        shown.append(f"XINFANG_BENCH_POSTGRES_URL={services.postgres_url}")
    if bench.kafka:
        env["XINFANG_KAFKA_BOOTSTRAP_SERVERS"] = services.kafka
        shown.append(f"XINFANG_KAFKA_BOOTSTRAP_SERVERS={services.kafka}")
    else:
        env.pop("XINFANG_KAFKA_BOOTSTRAP_SERVERS", None)
        if bench.name == "submit_flow":
            shown.insert(0, "env -u XINFANG_KAFKA_BOOTSTRAP_SERVERS")
    argv = [str(ROOT / PYTHON), *bench.args, "--json"]
    text = " ".join([*shown, PYTHON, *map(shlex.quote, bench.args), "--json"])
    return argv, env, text


def wait_for_quiet(limit: float) -> tuple[float, float]:
    """Wait (at most ``limit`` s) until other work leaves most CPUs idle; (busy, waited)."""
    started = time.monotonic()
    busy = cpu_busy()
    while busy > QUIET_BUSY and time.monotonic() - started < limit:
        busy = cpu_busy()
    return busy, round(time.monotonic() - started, 1)


def run_bench(bench: Bench, services: Services, quiet: float) -> Run:
    argv, env, text = command_line(bench, services)
    run = Run(bench, text)
    limit = quiet if bench.quiet_wait is None else max(quiet, bench.quiet_wait)
    run.busy_before, run.waited = wait_for_quiet(limit if quiet > 0 else 0)
    run.load_before = load_average()
    run.started = time.strftime("%H:%M:%S")
    say(f"{bench.name}: {text}")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out_path, log_path = OUT_DIR / f"{bench.name}.json", OUT_DIR / f"{bench.name}.log"
    started = time.perf_counter()
    with out_path.open("wb") as out, log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # Ctrl-C reaches make bench, which stops it in order
            preexec_fn=default_sigint,
        )
        lines: list[str] = []

        def pump() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                log.write(line)
                log.flush()
                lines.append(line.rstrip())
                print(f"  [{bench.name}] {line.rstrip()}", file=sys.stderr, flush=True)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            run.exit_code = proc.wait(bench.timeout)
        except subprocess.TimeoutExpired:
            say(f"{bench.name}: over {bench.timeout:.0f} s, stopping it")
            lines.append(f"make bench stopped it after {bench.timeout:.0f} s")
            stop(proc)
            run.exit_code = proc.returncode
        except KeyboardInterrupt:
            stop(proc)
            raise
        finally:
            reader.join(10)
    run.seconds = round(time.perf_counter() - started, 1)
    run.load_after = load_average()
    run.tail = lines[-15:]
    with contextlib.suppress(ValueError, OSError):
        run.result = json.loads(out_path.read_text())
    say(f"{bench.name}: exit {run.exit_code} after {run.seconds:.0f} s")
    return run


def default_sigint() -> None:
    """In the child: SIGINT back to its default, so that Python turns it into
    KeyboardInterrupt even when make bench was started in the background (``cmd &`` in a
    script ignores SIGINT, and an ignored signal stays ignored across exec)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop(proc: subprocess.Popen[str]) -> None:
    """SIGINT first (the benchmarks stop their suites and drop their databases on it), then
    SIGTERM, then SIGKILL."""
    for sig, wait in ((signal.SIGINT, 60), (signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)


# -- formatting --


def num(value: Any, digits: int | None = None) -> str:
    """A figure for a table: thousands separated, 3 significant digits unless told."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int) and digits is None:
        return f"{value:,}"
    v = float(value)
    if digits is None:
        digits = 0 if abs(v) >= 100 else 1 if abs(v) >= 10 else 2 if abs(v) >= 1 else 3
    return f"{v:,.{digits}f}"


def ratio(a: Any, b: Any) -> str:
    if a is None or b is None or not b:
        return "–"
    r = float(a) / float(b)
    if r >= 100:
        return f"{r:,.0f}×"
    if r >= 10:
        return f"{r:.1f}×"
    return f"{r:.2f}×" if r >= 0.1 else f"{r:.3f}×"


Row = tuple[str, str, str, str, str]  # figure, value, baseline, baseline value, ratio


def row(
    figure: str, value: Any, unit: str, baseline: str, base: Any, base_unit: str | None = None
) -> Row:
    bu = unit if base_unit is None else base_unit
    v = f"{num(value)} {unit}".strip()
    b = f"{num(base)} {bu}".strip() if base is not None else "–"
    return (figure, v, baseline or "–", b, ratio(value, base) if base is not None else "–")


def table(rows: list[Row]) -> list[str]:
    out = [
        "| figure | value | baseline (same run) | baseline value | ratio |",
        "|---|---:|---|---:|---:|",
    ]
    out += [f"| {' | '.join(r)} |" for r in rows]
    return out


# -- per benchmark: the figures --


def e2e_rows(r: dict[str, Any]) -> list[Row]:
    s, rd, rt = r["submit"], r["reads"], r["routed"]
    g, b = s["gateway"], s["raw"]
    rows = [
        row(
            f"submissions/s, `POST /api/v1/petitions` via the gateway ({g['ok']:,} requests)",
            g["requests_per_second"],
            "/s",
            f"bare FastAPI POST of the same body ({b['ok']:,})",
            b["requests_per_second"],
        ),
        row("submission latency p50", g["p50_ms"], "ms", "bare POST p50", b["p50_ms"]),
        row(
            f"submission latency p99 (n = {g['ok']:,})",
            g["p99_ms"],
            "ms",
            "bare POST p99",
            b["p99_ms"],
        ),
    ]
    c, h, sc = rt["client"], rt["kafka_two_hops"], rt["server_clocks"]
    rows += [
        row(
            f"201 → `GET /api/v1/cases/{{n}}` shows `routed`, p50 ({c['ok']:,} petitions)",
            c["p50_ms"],
            "ms",
            f"a message through two Kafka hops, p50 ({h['ok']:,})",
            h["p50_ms"],
        ),
        row(
            f"201 → routed and visible, p99 (n = {c['ok']:,})",
            c["p99_ms"],
            "ms",
            "two Kafka hops, p99",
            h["p99_ms"],
        ),
        row(
            "received → routed by the services' clocks (timeline), p50",
            sc["p50_ms"],
            "ms",
            "two Kafka hops, p50",
            h["p50_ms"],
        ),
        row(
            "received → routed (timeline), p99",
            sc["p99_ms"],
            "ms",
            "two Kafka hops, p99",
            h["p99_ms"],
        ),
    ]
    g, b = rd["gateway"], rd["raw"]
    rows += [
        row(
            f"case reads/s, `GET /api/v1/cases/{{n}}` via the gateway ({g['ok']:,} reads)",
            g["requests_per_second"],
            "/s",
            f"bare FastAPI GET of the same case JSON ({b['ok']:,})",
            b["requests_per_second"],
        ),
        row("case read latency p50", g["p50_ms"], "ms", "bare GET p50", b["p50_ms"]),
        row(
            f"case read latency p99 (n = {g['ok']:,})",
            g["p99_ms"],
            "ms",
            "bare GET p99",
            b["p99_ms"],
        ),
    ]
    cpu = r.get("cpu_seconds", {})
    if cpu.get("bare_posts"):
        ours = sum(v for k, v in cpu["submissions"].items() if "bare" not in k)
        bare = cpu["bare_posts"].get("bare FastAPI app (baseline)")
        rows.append(
            row(
                "CPU per submission, all server processes (services, Kafka, PostgreSQL backends)",
                ours * 1000 / max(1, r["submit"]["gateway"]["ok"]),
                "ms",
                "bare app's CPU per POST",
                bare * 1000 / max(1, r["submit"]["raw"]["ok"]) if bare else None,
            )
        )
        ours = sum(v for k, v in cpu["reads"].items() if "bare" not in k)
        bare = cpu["bare_gets"].get("bare FastAPI app (baseline)")
        rows.append(
            row(
                "CPU per case read, all server processes",
                ours * 1000 / max(1, rd["gateway"]["ok"]),
                "ms",
                "bare app's CPU per GET",
                bare * 1000 / max(1, rd["raw"]["ok"]) if bare else None,
            )
        )
    drain = rt["drain"]["seconds_after_last_201"]
    rows.append(row("last 201 → every petition routed (drain)", drain, "s", "", None))
    return rows


MEMORY_ORDER = ("gateway", "intake", "routing", "tracking", "evaluation")


def e2e_memory(r: dict[str, Any]) -> list[str]:
    mem, cpu = r["memory"], r["cpu_seconds"]
    base_name = "bare FastAPI app (baseline)"
    base = mem["loaded"].get(base_name, {}).get("rss_mb")
    names = [n for n in MEMORY_ORDER if n in mem["loaded"]]
    names += [n for n in mem["loaded"] if n not in names]
    out = [
        "| process | idle RSS | idle USS | end RSS | end USS | peak RSS | peak USS | "
        "end RSS ÷ bare app | CPU s, submissions | CPU s, reads |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in names:
        idle, end = mem["idle"].get(name, {}), mem["loaded"][name]
        peak = mem["peak_sampled"].get(name, {})
        hwm = mem["peak_rss_hwm_mb"].get(name)
        label = name
        if "backends" in end:
            label = f"{name} ({idle.get('backends', '–')} idle, {end['backends']} at the end)"
        if name == base_name:
            sub = cpu["bare_posts"].get(name)
            reads = cpu["bare_gets"].get(name)
        else:
            sub, reads = cpu["submissions"].get(name), cpu["reads"].get(name)
        out.append(
            f"| {label} | {num(idle.get('rss_mb'), 0)} | {num(idle.get('uss_mb'), 0)} "
            f"| {num(end.get('rss_mb'), 0)} | {num(end.get('uss_mb'), 0)} "
            f"| {num(hwm if hwm is not None else peak.get('rss_mb'), 0)} "
            f"| {num(peak.get('uss_mb'), 0)} "
            f"| {ratio(end.get('rss_mb'), base) if name != base_name else '1×'} "
            f"| {num(sub, 1)} | {num(reads, 1)} |"
        )
    return out


def submit_flow_rows(r: dict[str, Any]) -> list[Row]:
    h, p, rt, sc = r["healthz"], r["post"], r["routed"], r["routed_server_clocks"]
    return [
        row(
            f"submissions/s via the gateway ({p['ok']:,})",
            p["requests_per_second"],
            "/s",
            f"`GET /healthz` via the gateway ({h['ok']:,})",
            h["requests_per_second"],
        ),
        row("submission latency p50", p["p50_ms"], "ms", "`GET /healthz` p50", h["p50_ms"]),
        row(
            f"submission latency p99 (n = {p['ok']:,})",
            p.get("p99_ms"),
            "ms",
            "`GET /healthz` p99",
            h.get("p99_ms"),
        ),
        row(f"201 → routed and visible, p50 ({rt['ok']:,})", rt["p50_ms"], "ms", "", None),
        row(f"201 → routed and visible, p99 (n = {rt['ok']:,})", rt.get("p99_ms"), "ms", "", None),
        row("received → routed (timeline), p50", sc["p50_ms"], "ms", "", None),
        row("received → routed (timeline), p99", sc.get("p99_ms"), "ms", "", None),
        row(
            "last 201 → every petition routed (drain)",
            r["drain"]["seconds_after_last_201"],
            "s",
            "",
            None,
        ),
    ]


def intake_rows(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    subs = r.get("submissions", {})
    scrypt = subs.get("query_code_hash", {})
    for key, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        db = subs.get("databases", {}).get(key)
        if not db or "post" not in db:
            if db:
                rows.append(
                    (
                        f"{label}: skipped or failed",
                        db.get("skipped") or db.get("failed", "?"),
                        "–",
                        "–",
                        "–",
                    )
                )
            continue
        h, p, s = db["healthz"], db["post"], db["post_serial"]
        rows += [
            row(
                f"{label}: submissions/s into intake, in process ({p['ok']:,})",
                p["requests_per_second"],
                "/s",
                "`GET /healthz`, same app",
                h["requests_per_second"],
            ),
            row(f"{label}: submission p50", p["p50_ms"], "ms", "`GET /healthz` p50", h["p50_ms"]),
            row(
                f"{label}: CPU per submission",
                p["cpu_ms_per_request"],
                "ms",
                "CPU per `GET /healthz`",
                h["cpu_ms_per_request"],
            ),
            row(
                f"{label}: one submission at a time, p50 ({s['ok']})",
                s["p50_ms"],
                "ms",
                "the query-code scrypt hash alone, p50",
                scrypt.get("wall_ms_p50"),
            ),
        ]
    micro = r.get("micro", {})
    names = {
        "classify": "`classify()` per text",
        "resolve": "address `resolve()`",
        "repeat_1000": "repeat check against 1,000 texts",
        "repeat_10000": "repeat check against 10,000 texts",
        "jaccard_only_1000": "same, 1,000 texts already shingled",
        "bands": "MinHash `bands()` per text",
    }
    for key, label in names.items():
        m = micro.get(key)
        if m:
            rows.append(
                row(label, m["us_per_call"], "µs", m["baseline"], m["baseline_us_per_call"])
            )
    return rows


def routing_rows(r: dict[str, Any]) -> list[Row]:
    steps = r["load"]["steps"]
    d = r["decisions"]
    mem = r["memory"]["deltas_mb"]
    rows = [
        row(
            "`generate()` (105,960 units), median",
            steps["generate"]["median_ms"],
            "ms",
            "`{unit.id: unit}` over them",
            steps["plain_dict"]["median_ms"],
        ),
        row(
            "`Directory(units)`, median",
            steps["directory"]["median_ms"],
            "ms",
            "`{unit.id: unit}`",
            steps["plain_dict"]["median_ms"],
        ),
        row(
            f"`decide()` p50 ({d['count']:,} petitions)",
            d["decide"]["p50_us"],
            "µs",
            "`Directory.get(id)` p50",
            d["baseline_directory_get"]["p50_us"],
        ),
        row(
            f"`decide()` p99 (n = {d['count']:,})",
            d["decide"]["p99_us"],
            "µs",
            "`Directory.get(id)` p99",
            d["baseline_directory_get"]["p99_us"],
        ),
        row("decisions/s, one core", d["decisions_per_second"], "/s", "", None),
        (
            "accusations sent to the accused unit (must be 0)",
            f"{d['accused_unit_violations']} of {d['accusations_with_accused_unit']:,}",
            "–",
            "–",
            "–",
        ),
        row(
            "RSS of the directory (region data + units + indexes)",
            mem["region_data"] + mem["generate"] + mem["directory"],
            "MB",
            "RSS of the plain dict",
            mem["plain_dict (baseline)"],
        ),
    ]
    for key, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        db = r.get("databases", {}).get(key)
        if not db or "load_ms" not in db:
            continue
        rows += [
            row(f"{label}: first `seed` (generate + insert all)", db["seed_ms"], "ms", "", None),
            row(f"{label}: `seed` again (no-op at every start)", db["reseed_ms"], "ms", "", None),
            row(
                f"{label}: `Jurisdiction().load`",
                db["load_ms"],
                "ms",
                "its `SELECT` alone",
                db["select_ms"],
            ),
        ]
    return rows


def tracking_rows(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    s = r.get("scan")
    if s:
        c = s["scan_counts"]
        ms = lambda k: s[k] * 1000  # noqa: E731
        rows += [
            row(
                f"scan, nothing to do ({s['cases']:,} open cases)",
                ms("noop_index_s"),
                "ms",
                "same without `ix_clocks_next_check`",
                ms("noop_no_index_s"),
            ),
            row(
                f"scan's reads alone ({c['batches']} batches)",
                ms("reads_index_s"),
                "ms",
                "same, index scans off",
                ms("reads_no_index_s"),
            ),
            row(
                f"scan, {c['read']:,} crossings",
                ms("scan_index_s"),
                "ms",
                "same without the index",
                ms("scan_no_index_s"),
            ),
            row(
                f"scan, {c['read']:,} crossings",
                ms("scan_index_s"),
                "ms",
                "`SELECT count(*)` of running clocks",
                ms("baseline_count_s"),
            ),
        ]
    for database, rd in (r.get("reads") or {}).items():
        raw = rd["raw"]
        for key, label in (("tracking", "tracking directly"), ("gateway", "via the gateway")):
            g = rd[key]
            rows += [
                row(
                    f"{database}: case reads/s, {label} ({g['ok']:,})",
                    g["requests_per_second"],
                    "/s",
                    "bare FastAPI GET",
                    raw["requests_per_second"],
                ),
                row(
                    f"{database}: case read p99, {label}",
                    g.get("p99_ms"),
                    "ms",
                    "bare GET p99",
                    raw.get("p99_ms"),
                ),
            ]
    return rows


PER_CASE = "baseline: country's year from one row per case"


def evaluation_rows(r: dict[str, Any]) -> list[Row]:
    q = r["queries_ms"]
    per_case = q.get(PER_CASE)
    count = q.get("baseline: count(*) scorecard_rollups")
    rows = []
    for name, ms in q.items():
        if name.startswith("baseline"):
            continue
        if name == "scorecard, country, year":
            rows.append(row(name, ms, "ms", "the country's year from one row per case", per_case))
        rows.append(row(name, ms, "ms", "`count(*)` of scorecard_rollups", count))
    ev = r.get("event_ms")
    if ev:
        rows.append(
            row(
                f"`tracking.case.accepted.v1` applied, with the rollups ({r['events']:,})",
                ev["with rollups"],
                "ms",
                "same without the rollup refresh",
                ev["without rollups"],
            )
        )
    return rows


FIGURES = {
    "e2e": e2e_rows,
    "submit_flow": submit_flow_rows,
    "intake": intake_rows,
    "routing": routing_rows,
    "tracking": tracking_rows,
    "evaluation": evaluation_rows,
}

NOTES = {
    "e2e": (
        "Four services and the gateway as real processes (uvicorn, one process each) on "
        "scratch PostgreSQL databases and the Apache Kafka broker, topics under a unique "
        "prefix; the load generator runs on the same 2 cores. Closed loop: 8 clients, each "
        "sending its next request when the previous one answered, one `httpx.AsyncClient`. "
        "The bare app is FastAPI + uvicorn alone (one process, access log on like the "
        "services), answering the same case JSON and accepting the same petition JSON with a "
        "201 like intake's. While the submissions run, a second client polls every pending case "
        "every 20 ms (at most 4 GETs in flight) until it shows `routed`: that poller competes "
        "with the submissions, and a loaded machine can add up to one poll round to the "
        "client-side routed latency (the timeline row has no polling in it). The two-hop "
        "baseline sends one message at a time through two topics with the services' producer "
        "settings (`acks=all`) and fetch wait (100 ms), no database, suite idle. Each load "
        "phase stops sending after 240 s (`--max-seconds`), so on a busy machine it holds fewer "
        "than 1,000 submissions or 2,000 reads: the tables give the number of samples. The "
        "gateway's upstream timeout is raised from 10 s to 60 s for this run "
        "(`--upstream-timeout`), so that a slow answer on a shared machine is measured rather "
        "than turned into a 503. Percentiles are nearest-rank: p99 of 1,000 samples is the "
        "10th slowest, of 300 the 3rd."
    ),
    "submit_flow": (
        "The same flow on `make run`'s defaults: embedded tansu broker and SQLite, against "
        "`GET /healthz` through the same gateway."
    ),
    "intake": (
        "Intake's app in the benchmark's own process behind `httpx.ASGITransport` (no gateway, "
        "no network), on SQLite and on a scratch PostgreSQL database; part 2 times pure "
        "functions against a cheaper operation on the same input (median of 5 rounds)."
    ),
    "routing": "Routing's code in the benchmark's process: no service, no broker.",
    "tracking": (
        "Part 1 at 200,000 open cases (bench/README.md has 1,000,000; the index's advantage "
        "grows with the table). Part 2 on a suite of its own, SQLite then PostgreSQL, on the "
        "Apache Kafka broker."
    ),
    "evaluation": (
        "At 500,000 petitions so that `make bench` stays under about 30 minutes (the load "
        "takes most of the time: about 70 minutes at 10,000,000); the 10,000,000 figures are "
        "below, measured separately, and bench/README.md has 1,000,000 too."
    ),
}

# bench/README.md's figures at 10,000,000 petitions: (query, ms, baseline, baseline ms)
EVALUATION_10M_FIGURES = [
    ("scorecard, country, year", 41.0, "the country's year from one row per case", 3051.9),
    ("scorecard, country, year", 41.0, "`count(*)` of scorecard_rollups", 1222.8),
    ("scorecard, province 440000, year", 38.4, "`count(*)` of scorecard_rollups", 1222.8),
    ("scorecard, one unit, year", 12.4, "`count(*)` of scorecard_rollups", 1222.8),
    ("scorecards of the 34 provinces, year", 1110.6, "`count(*)` of scorecard_rollups", 1222.8),
    ("situation, country, June", 199.7, "`count(*)` of scorecard_rollups", 1222.8),
    ("situation, province 440000, June", 313.9, "`count(*)` of scorecard_rollups", 1222.8),
    ("`tracking.case.accepted.v1` applied, with the rollups", 27.2, "same without it", 16.4),
]
EVALUATION_10M = """\
### Reference, not produced by this run: evaluation at 10,000,000 petitions

Measured separately on 2026-11-28 (2 cores, PostgreSQL 15, shared machine; bench/README.md,
commit cdc71fc), about 70 minutes, most of it generating and loading the rows:

    XINFANG_BENCH_POSTGRES_URL=postgresql+asyncpg://xinfang:xinfang@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/evaluation.py --cases 10000000 --rounds 5 --events 1000

{table}

Rows: case_reads 10,000,000 (3,916 MB), scorecard_cases 10,000,000 (4,048 MB),
scorecard_rollups 17,580,223 (3,767 MB).
"""


# -- BENCHMARKS.md --


def error_samples(result: Any, found: list[str] | None = None) -> list[str]:
    """The first few distinct error samples anywhere in a benchmark's JSON."""
    found = [] if found is None else found
    if isinstance(result, dict):
        for key, value in result.items():
            if key == "error_samples" and isinstance(value, list):
                found += [str(v)[:160] for v in value if str(v)[:160] not in found]
            else:
                error_samples(value, found)
    elif isinstance(result, list):
        for value in result:
            error_samples(value, found)
    return found[:5]


def busy(moment: dict[str, Any]) -> str:
    return "; ".join(moment["busy"]) or "none above 10% of a CPU"


def load_text(values: list[float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values) if values else "–"


def summary(runs: dict[str, Run]) -> list[str]:
    """The prose: what the figures mean, with this run's numbers."""
    out = []
    e2e = runs.get("e2e")
    if e2e and e2e.result:
        r = e2e.result
        s, rd, rt = r["submit"], r["reads"], r["routed"]
        g, b = s["gateway"], s["raw"]
        cpu = r["cpu_seconds"]["submissions"]
        total = sum(v for k, v in cpu.items() if "bare" not in k) or 1.0
        top = sorted(((v, k) for k, v in cpu.items() if "bare" not in k), reverse=True)[:3]
        shares = ", ".join(f"{k} {v / total:.0%}" for v, k in top)
        out.append(
            f"* **Submissions.** Through the gateway on PostgreSQL and Apache Kafka the suite took "
            f"{num(g['requests_per_second'])} petitions/s at concurrency 8 ({g['ok']:,} in "
            f"{num(g['seconds'], 0)} s; p50 "
            f"{num(g['p50_ms'])} ms, p99 {num(g['p99_ms'])} ms), "
            f"{ratio(g['requests_per_second'], b['requests_per_second'])} the throughput of a "
            f"bare FastAPI POST on the same machine ({num(b['requests_per_second'])}/s). A "
            "submission is CPU work by design: intake hashes the query code with scrypt (about "
            "65 ms of CPU, see the intake rows), encrypts the identity, classifies and locates "
            "the petition, and the same two cores also run routing, tracking, evaluation, the "
            f"broker, PostgreSQL and the load generator. Of the servers' CPU during the "
            f"submissions, the largest shares were {shares}."
        )
        c, h = rt["client"], rt["kafka_two_hops"]
        out.append(
            f"* **201 → routed and visible.** p50 {num(c['p50_ms'])} ms, p99 "
            f"{num(c['p99_ms'])} ms at the client while the submissions ran; by the services' "
            f"own clocks (timeline `received` → `routed`) p50 "
            f"{num(rt['server_clocks']['p50_ms'])} ms, p99 {num(rt['server_clocks']['p99_ms'])}"
            " ms. The floor the broker sets, two hops with the services' client settings and "
            f"nothing else, is p50 {num(h['p50_ms'])} ms: the rest is the outbox relays, the "
            "consumers' database transactions (tracking opens the case, routing decides, "
            "tracking records the routing) and waiting for a CPU under load."
        )
        poll = rt["polling"].get("round_p50_ms")
        if poll and poll > 1000:
            out.append(
                f"  The client figure also holds the poller's own delay: one round over the "
                f"pending cases took p50 {num(poll)} ms here (it asks every pending case once, "
                f"{rt['polling']['max_in_flight']} GETs at a time, and each GET waited for a CPU "
                "like everything else), so on this run the timeline figure is the one that "
                "describes the pipeline."
            )
        g, b = rd["gateway"], rd["raw"]
        out.append(
            f"* **Case reads.** {num(g['requests_per_second'])} reads/s through the gateway "
            f"(p50 {num(g['p50_ms'])} ms, p99 {num(g['p99_ms'])} ms), "
            f"{ratio(g['requests_per_second'], b['requests_per_second'])} a bare FastAPI GET of "
            f"the same JSON ({num(b['requests_per_second'])}/s): a read is two HTTP hops "
            "(gateway, tracking), a token check in each, and four queries (the case, its "
            "timeline, clocks and reviews)."
        )
        mem = r["memory"]["loaded"]
        base = mem.get("bare FastAPI app (baseline)", {}).get("rss_mb")
        svc = [
            f"{n} {num(mem[n]['rss_mb'], 0)}"
            for n in MEMORY_ORDER
            if n in mem and "rss_mb" in mem[n]
        ]
        out.append(
            f"* **Memory.** RSS at the end of the load, MB: {', '.join(svc)}, against "
            f"{num(base, 0)} MB for the bare FastAPI app. Routing holds the national unit "
            "directory in memory (see the routing rows); RSS counts shared libraries in every "
            "process, USS only what the process alone holds. PostgreSQL backends' RSS includes "
            "the shared buffers they touched: their USS is what each connection adds."
        )
    if runs.get("evaluation") and runs["evaluation"].result:
        q = runs["evaluation"].result["queries_ms"]
        out.append(
            f"* **Analytics.** At {runs['evaluation'].result['cases']:,} petitions the country's "
            f"scorecard for the year took {num(q.get('scorecard, country, year'))} ms against "
            f"{num(q.get(PER_CASE))} ms summing one row per case; at 10,000,000 (reference "
            "below) 41 ms against 3.05 s."
        )
        ev = runs["evaluation"].result.get("event_ms") or {}
        if ev and ev.get("with rollups", 0) < ev.get("without rollups", 0):
            out.append(
                f"  Keeping the rollups measured {num(ev['with rollups'])} ms per event against "
                f"{num(ev['without rollups'])} ms without them: cheaper *with* the extra work, "
                "which cannot be the cost of the refresh itself; the two variants ran one after "
                "the other under a changing load (the reference measured 27.2 against 16.4 ms)."
            )
    cores = os.cpu_count() or 1
    loads = [x[0] for run in runs.values() for x in (run.load_before, run.load_after) if x]
    if loads and max(loads) > 2 * cores:
        out.append(
            f"* **This run shared the machine.** The 1-minute load average reached "
            f"{max(loads):.0f} on {cores} cores (other engineers' test suites with their own "
            "services, Kafka brokers and databases ran at the same time; see the busy processes "
            "above and each benchmark's load average). Every process here got a fraction of a "
            "core, so throughputs are lower and latencies longer than on a quiet machine, most "
            "of all for the CPU-heavy paths (submissions); the bare-app baselines suffered too, "
            "but less, since they need little CPU per request. Rerun `make bench` on a quiet "
            "machine for figures to compare with other machines."
        )
    out.append(
        "* **Reading them.** Every figure comes from one run on a shared 2-core machine with the "
        "load generator on the same cores: compare a figure with its baseline of the same run, "
        "and runs with each other under similar load (the load average is given per benchmark), "
        "not with other machines."
    )
    return out


def write_report(
    path: Path,
    runs: dict[str, Run],
    info: dict[str, str],
    services: Services,
    started: dict[str, Any],
    ended: dict[str, Any],
) -> None:
    lines = [
        "# Benchmarks",
        "",
        f"Produced by `make bench` (`bench/report.py`) on {started['date']}, "
        f"{started['time']} to {ended['time']} UTC ({ended['wall'] / 60:.1f} minutes), "
        f"at commit `{info['commit']}`{info['dirty']}. Every figure below was measured in this "
        "run, beside a baseline measured in the same run on the same machine, except the "
        "section marked as a reference. Raw results: `var/bench/<name>.json` (and `.log`).",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
    ]
    for key in ("CPU", "cores", "memory", "OS", "Python", "Java"):
        lines.append(f"| {key} | {info[key]} |")
    if services.postgres_version:
        lines.append(f"| PostgreSQL | {services.postgres_version}; {services.postgres_note} |")
    if services.kafka:
        v = services.kafka_version or "unknown version"
        lines.append(
            f"| Apache Kafka | {v} at {services.kafka}, KRaft, one node; {services.kafka_note} |"
        )
    lines += [
        f"| load average (1, 5, 15 min) at the start | {load_text(started['load'])} |",
        f"| load average at the end | {load_text(ended['load'])} |",
        f"| busy processes at the start | {busy(started)} |",
        f"| busy processes at the end | {busy(ended)} |",
        "",
        "The machine is shared: other engineers' test runs (their own services, brokers and "
        "databases) come and go on the same 2 cores while this runs. Before each benchmark "
        f"`make bench` waits up to {QUIET_WAIT:.0f} s (2 minutes before the end-to-end one) for "
        "at most half the CPU time to be busy, and records the load average before and after "
        "each one (below).",
        "",
        "## Summary",
        "",
        *summary(runs),
        "",
    ]
    e2e = runs.get("e2e")
    for name, run in runs.items():
        lines += [f"## {run.bench.title}", ""]
        lines += [
            "```sh",
            run.command,
            "```",
            "",
            f"Started {run.started}, took {run.seconds:.0f} s; load average "
            f"{load_text(run.load_before)} before, {load_text(run.load_after)} after; CPU "
            f"{run.busy_before:.0%} busy just before it started"
            + (f" (after waiting {run.waited:.0f} s)" if run.waited >= 3 else "")
            + ".",
            "",
        ]
        if NOTES.get(name):
            lines += [NOTES[name], ""]
        if not run.ok and run.result:
            samples = error_samples(run.result)
            lines += [
                f"**Finished with exit status {run.exit_code}**: the figures below are what it "
                "measured, but some requests failed or some petitions were not routed in time"
                + (" (samples below)" if samples else "")
                + f"; its log is `var/bench/{name}.log`.",
                "",
                *[f"* `{sample}`" for sample in samples],
                "",
            ]
        elif not run.ok:
            lines += [
                f"**Failed** (exit status {run.exit_code}), no figures. Last lines of its log "
                f"(`var/bench/{name}.log`):",
                "",
                "```",
                *run.tail,
                "```",
                "",
            ]
        if run.result:
            try:
                lines += table(FIGURES[name](run.result))
            except (KeyError, TypeError) as exc:
                lines.append(f"(figures missing from its output: {exc!r})")
            lines.append("")
        if name == "e2e" and e2e and e2e.result and "memory" in e2e.result:
            r = e2e.result
            lines += [
                "Memory (MB) and CPU of each process. *Idle*: after start-up, before any "
                f"request ({r['memory'].get('samples', 0)} samples taken during the load, one "
                "a second). *End*: right after the last case read. *Peak RSS*: the kernel's "
                "high-water mark (`VmHWM`) of the process since it started, for PostgreSQL "
                "backends the largest sampled sum; *peak USS*: the largest sampled. USS = "
                "private pages (`Private_Clean + Private_Dirty` of `/proc/<pid>/smaps_rollup`). "
                "The Kafka broker and the PostgreSQL postmaster serve others too when they "
                "were not started by this run. CPU seconds: during the "
                f"{r['submit']['gateway']['ok']:,} submissions "
                f"({r['cpu_seconds']['submissions_wall_s']:.0f} s) and the "
                f"{r['reads']['gateway']['ok']:,} reads ({r['cpu_seconds']['reads_wall_s']:.0f} s);"
                " for the bare app, during its own POSTs and GETs.",
                "",
                *e2e_memory(r),
                "",
            ]
        if name == "evaluation":
            figures = [row(f, ms, "ms", b, base) for f, ms, b, base in EVALUATION_10M_FIGURES]
            lines += [EVALUATION_10M.format(table="\n".join(table(figures)))]
    lines += [
        "## Reproducing",
        "",
        f"`make bench` reruns everything and rewrites this file ({ended['wall'] / 60:.0f} "
        "minutes this time, on this "
        "machine). Each benchmark's command is above; `bench/README.md` explains each one and "
        "its flags, and `.venv/bin/python bench/report.py --only e2e` reruns one of them and "
        "rewrites this file with its figures only.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


# -- main --


def interrupted(*_: Any) -> None:
    raise KeyboardInterrupt


# A smoke test of make bench itself (--quick): every benchmark at a tiny size.
QUICK = {
    "e2e": ["--count", "40", "--reads", "100", "--hops", "20", "--settle", "1", "--timeout", "600"],
    "submit_flow": ["--count", "40"],
    "intake": ["--count", "20", "--serial", "3", "--hash-calls", "2", "--rounds", "1"],
    "routing": ["--count", "2000", "--rounds", "1"],
    "tracking": ["--cases", "2000", "--count", "100", "--cases-read", "3", "--rounds", "1"],
    "evaluation": ["--cases", "20000", "--rounds", "1", "--events", "20"],
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--only", help="comma-separated benchmarks: " + ",".join(b.name for b in BENCHES)
    )
    p.add_argument("--output", default=str(ROOT / "BENCHMARKS.md"), help="BENCHMARKS.md")
    p.add_argument("--quiet-wait", type=float, default=QUIET_WAIT, help="seconds (45)")
    p.add_argument("--quick", action="store_true", help="tiny sizes: a test of make bench")
    p.add_argument(
        "--rewrite",
        action="store_true",
        help="write BENCHMARKS.md again from the last run's var/bench/ files, running nothing",
    )
    args = p.parse_args(argv)
    names = {b.name for b in BENCHES}
    if args.only and not set(args.only.split(",")) <= names:
        p.error(f"--only takes some of {', '.join(sorted(names))}")
    return args


STATE = OUT_DIR / "report.json"


def save_state(
    runs: dict[str, Run],
    info: dict[str, str],
    services: Services,
    started: dict[str, Any],
    ended: dict[str, Any],
) -> None:
    """What BENCHMARKS.md is written from, besides each benchmark's JSON: --rewrite reads it."""
    state = {
        "info": info,
        "services": {k: v for k, v in services.__dict__.items() if not k.startswith("started")},
        "started": started,
        "ended": ended,
        "runs": [
            {k: v for k, v in run.__dict__.items() if k not in ("bench", "result")} | {"name": name}
            for name, run in runs.items()
        ],
    }
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    STATE.write_text(json.dumps(state, indent=2, ensure_ascii=False))


def rewrite(output: Path) -> int:
    """BENCHMARKS.md again from the last run's var/bench/report.json and <name>.json."""
    state = json.loads(STATE.read_text())
    benches = {b.name: b for b in BENCHES}
    runs = {}
    for saved in state["runs"]:
        name = saved.pop("name")
        run = Run(benches[name], **saved)
        with contextlib.suppress(ValueError, OSError):
            run.result = json.loads((OUT_DIR / f"{name}.json").read_text())
        runs[name] = run
    services = Services(**state["services"])
    write_report(output, runs, state["info"], services, state["started"], state["ended"])
    say(f"rewrote {output} from {STATE.relative_to(ROOT)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.rewrite:
        return rewrite(Path(args.output))
    benches = [b for b in BENCHES if not args.only or b.name in args.only.split(",")]
    if args.quick:
        benches = [Bench(**{**b.__dict__, "args": b.args[:1] + QUICK[b.name]}) for b in benches]
    t0 = time.perf_counter()
    started = {
        "date": time.strftime("%Y-%m-%d", time.gmtime()),
        "time": time.strftime("%H:%M", time.gmtime()),
        "load": load_average(),
        "busy": busy_processes(),
    }
    info = machine()
    info["commit"] = git("rev-parse", "--short", "HEAD") or "unknown"
    changed = [line for line in git("status", "--porcelain").splitlines() if line.strip()]
    info["dirty"] = f" with {len(changed)} uncommitted changes in the work tree" if changed else ""
    say(f"machine: {info['CPU']}, {info['cores']} cores; load {load_text(started['load'])}")
    services = Services()
    runs: dict[str, Run] = {}
    # SIGTERM: stop like Ctrl-C, so that what this run started is stopped.
    signal.signal(signal.SIGTERM, interrupted)
    try:
        services.start(
            need_kafka=any(b.kafka for b in benches),
            need_postgres=any(b.postgres for b in benches),
        )
        for bench in benches:
            runs[bench.name] = run_bench(bench, services, args.quiet_wait)
        e2e = runs.get("e2e")
        if e2e and e2e.result and not services.kafka_version:
            services.kafka_version = e2e.result.get("setup", {}).get("kafka_version") or ""
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
        say(f"could not start what the benchmarks need: {exc}")
        return 1
    finally:
        services.stop()
        if runs:
            ended = {
                "time": time.strftime("%H:%M", time.gmtime()),
                "load": load_average(),
                "busy": busy_processes(),
                "wall": time.perf_counter() - t0,
            }
            save_state(runs, info, services, started, ended)
            write_report(Path(args.output), runs, info, services, started, ended)
            say(f"wrote {args.output} ({ended['wall'] / 60:.1f} minutes)")
    failed = [name for name, run in runs.items() if not run.measured]
    errors = [name for name, run in runs.items() if run.measured and not run.ok]
    if errors:
        say(f"measured, with failed requests: {', '.join(errors)} (see BENCHMARKS.md)")
    if failed:
        say(f"failed: {', '.join(failed)} (see var/bench/<name>.log)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
