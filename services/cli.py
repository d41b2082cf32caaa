"""The ``xinfang`` command: run the suite, serve one process, mint dev tokens, migrate,
create topics, replay dead letters, prune the outbox, rebuild evaluation's analytics."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from datetime import date
from pathlib import Path

from shared.settings import SERVICES, CommonSettings


def cmd_up(args: argparse.Namespace) -> int:
    from services.launcher import ORDER, Suite

    external = os.environ.get("XINFANG_KAFKA_BOOTSTRAP_SERVERS")
    suite = Suite(
        var_dir=Path(args.var_dir).resolve(),
        base_port=args.base_port,
        broker_port=args.broker_port,
        bootstrap_servers=None if args.embedded_broker or not external else external,
        die_with_parent=True,
        gateway_rate_limits=True,
    )
    stopping = False

    def _stop(_sig: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        print(
            f"xinfang: broker {'(embedded tansu) ' if suite.bootstrap_servers is None else ''}"
            f"{suite.bootstrap}",
            flush=True,
        )
        suite.start()
        print("xinfang: suite is up (logs in {})".format(suite.var_dir / "logs"))
        for name in ORDER:
            print(f"  {name:<11} {suite.url(name)}")
        print(
            f"  API docs    {suite.url('gateway')}/docs\n  status      "
            f"{suite.url('gateway')}/status\nCtrl-C stops everything.",
            flush=True,
        )
        while not stopping:
            time.sleep(0.5)
            for name in ORDER:  # a crashed process is restarted: nothing accepted is lost
                m = suite.members[name]
                if not m.alive and not stopping:
                    print(
                        f"xinfang: {name} exited ({m.proc and m.proc.returncode}); restarting",
                        flush=True,
                    )
                    m.start()
            if suite.broker is not None and not suite.broker.alive and not stopping:
                print("xinfang: embedded broker exited; stopping", flush=True)
                return 1
    except RuntimeError as exc:
        print(f"xinfang: {exc}", file=sys.stderr)
        return 1
    finally:
        print("xinfang: stopping...", flush=True)
        suite.stop()
        print("xinfang: stopped", flush=True)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from services.launcher import APPS

    uvicorn.run(
        APPS[args.service],
        factory=True,
        host=args.host,
        port=args.port,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=30,  # longer than the gateway's idle connections live
    )
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from shared.auth import mint_token

    try:
        sub = args.sub or (f"unit:{args.unit}" if args.unit else args.role)
        print(
            mint_token(
                CommonSettings(),
                role=args.role,
                sub=sub,
                unit_id=args.unit,
                region_code=args.region,
                ttl_seconds=args.ttl,
            )
        )
    except ValueError as exc:
        print(f"xinfang token: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from shared.db import Database
    from shared.migrations import upgrade
    from shared.settings import service_settings

    async def run() -> None:
        for service in args.services or SERVICES:
            db = Database(service_settings(service).database_url_or_default())
            try:
                await upgrade(db, service)
                print(f"{service}: migrated to head")
            finally:
                await db.dispose()

    asyncio.run(run())
    return 0


def cmd_seed(_args: argparse.Namespace) -> int:
    from routing.units import seed
    from shared.db import Database
    from shared.migrations import upgrade
    from shared.settings import service_settings

    async def run() -> None:
        db = Database(service_settings("routing").database_url_or_default())
        try:
            await upgrade(db, "routing")
            done = await seed(db, actor="cli:seed")
            print(
                f"unit directory {done.version}: {done.inserted} inserted, {done.total} "
                f"generated, {done.seconds:.1f} s"
            )
        finally:
            await db.dispose()

    asyncio.run(run())
    return 0


def cmd_topics(_args: argparse.Namespace) -> int:
    from shared.messaging.kafka import ensure_topics

    settings = CommonSettings()
    created = asyncio.run(ensure_topics(settings, settings.all_topics, "xinfang-cli"))
    print("created: " + (", ".join(created) or "none (all exist)"))
    return 0


def cmd_dlq(args: argparse.Namespace) -> int:
    from services.dlq import replay, show

    settings = CommonSettings()
    topics = (
        [args.topic]
        if args.topic
        else [settings.dlq_topic(settings.topic(s)) for s in (args.service or SERVICES)]
    )
    if args.action == "list":
        asyncio.run(show(settings, topics))
        return 0
    total = asyncio.run(replay(settings, topics, group=args.group))
    print(f"replayed {total} dead letter(s)")
    return 0


def cmd_outbox(args: argparse.Namespace) -> int:
    from services.dlq import prune_outbox

    n = asyncio.run(prune_outbox(args.service, args.retention_days))
    print(f"{args.service}: pruned {n} sent outbox row(s) older than {args.retention_days} days")
    return 0


def cmd_evaluation(args: argparse.Namespace) -> int:
    from evaluation.rebuild import EvaluationRunning, describe, rebuild
    from shared.db import Database
    from shared.migrations import upgrade
    from shared.settings import service_settings

    if not args.yes:
        print(
            "xinfang evaluation rebuild empties evaluation's read models (case reads, "
            "scorecards) and replays the topics into them. Stop evaluation first, then run "
            "it again with --yes.",
            file=sys.stderr,
        )
        return 2
    settings = service_settings("evaluation")

    async def run() -> int:
        db = Database(settings.database_url_or_default())
        try:
            await upgrade(db, "evaluation")
            report = await rebuild(db, settings, since=args.since, until=args.until)
        except EvaluationRunning as exc:
            print(f"xinfang evaluation rebuild: {exc}; stop it first", file=sys.stderr)
            return 1
        finally:
            await db.dispose()
        print(describe(report))
        return 0 if report.outcomes["failed"] == 0 else 1

    return asyncio.run(run())


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xinfang", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start broker, four services and gateway (Ctrl-C stops)")
    up.add_argument("--var-dir", default=os.environ.get("XINFANG_VAR_DIR", "var"))
    up.add_argument("--base-port", type=int, default=8000, help="gateway port; services +1..+4")
    up.add_argument("--broker-port", type=int, default=9092)
    up.add_argument(
        "--embedded-broker",
        action="store_true",
        help="start tansu even if XINFANG_KAFKA_BOOTSTRAP_SERVERS is set",
    )
    up.set_defaults(func=cmd_up)

    serve = sub.add_parser("serve", help="run one process (production entry point)")
    serve.add_argument("service", choices=[*SERVICES, "gateway"])
    serve.add_argument("--host", default="0.0.0.0")
    serve.add_argument("--port", type=int, default=8000)
    serve.set_defaults(func=cmd_serve)

    tok = sub.add_parser("token", help="print a development JWT")
    tok.add_argument(
        "--role",
        required=True,
        choices=["petitioner", "unit", "operator", "grid_worker", "service"],
    )
    tok.add_argument("--sub", help="subject (the app's user id for petitioners)")
    tok.add_argument("--unit", help="unit id, for --role unit (e.g. 110107:petition_bureau)")
    tok.add_argument("--region", help="region code limiting an operator or a grid worker")
    tok.add_argument("--ttl", type=int, default=86400, help="seconds (default one day)")
    tok.set_defaults(func=cmd_token)

    mig = sub.add_parser("migrate", help="apply database migrations (alembic upgrade head)")
    mig.add_argument("services", nargs="*", help="any of " + ", ".join(SERVICES) + " (default all)")
    mig.set_defaults(func=cmd_migrate)

    sd = sub.add_parser("seed", help="load the national unit directory (idempotent)")
    sd.set_defaults(func=cmd_seed)

    top = sub.add_parser("topics", help="create the event and dead-letter topics")
    top.add_argument("action", choices=["create"])
    top.set_defaults(func=cmd_topics)

    dlq = sub.add_parser("dlq", help="inspect or re-drive dead letters")
    dlq.add_argument("action", choices=["list", "replay"])
    dlq.add_argument(
        "--service",
        action="append",
        choices=SERVICES,
        help="the producing service whose topic's DLQ to use (repeatable)",
    )
    dlq.add_argument("--topic", help="a dead-letter topic by name")
    dlq.add_argument("--group", help="only letters dead-lettered by this consumer group")
    dlq.set_defaults(func=cmd_dlq)

    out = sub.add_parser("outbox", help="operator commands on a service's outbox")
    out.add_argument("action", choices=["prune"])
    out.add_argument("service", choices=SERVICES)
    out.add_argument("--retention-days", type=int, required=True)
    out.set_defaults(func=cmd_outbox)

    ev = sub.add_parser("evaluation", help="operator commands on evaluation's analytics")
    ev.add_argument("action", choices=["rebuild"])
    ev.add_argument(
        "--from",
        dest="since",
        type=date.fromisoformat,
        help="replay only events of this day (China time) and later",
    )
    ev.add_argument(
        "--to", dest="until", type=date.fromisoformat, help="replay only events until this day"
    )
    ev.add_argument("--yes", action="store_true", help="evaluation is stopped: go ahead")
    ev.set_defaults(func=cmd_evaluation)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
