"""Scale out: two replicas of every service and of the gateway, against one broker and the
same four PostgreSQL databases, started together.

What a deployment with two replicas must show, and this test asserts:

- each consumer group spreads its partitions over both replicas, and when one replica of
  routing is killed (SIGKILL, mid-load) the other takes over all of its partitions;
- every petition accepted through either gateway is exactly one routed case with the timeline
  received, routed, and tracking and evaluation count exactly the petitions accepted;
- the outbox relays: one replica per service holds the relay lease (``shared.lease``, a
  PostgreSQL advisory lock) and publishes; every outbox row is on its topic, exactly once
  where the lease never moved, and at least once where its holder was killed mid-batch (that
  redelivery is what the consumers' inbox absorbs, and the timelines show it was absorbed);
- the scheduler scans (tracking's clock scan, evaluation's rating scan) run on one replica
  only: one replica took each lease and only that one logged scans, and a due clock crossed
  once produced one overdue event and one supervision, a closed rating window one not-rated
  event.

Needs PostgreSQL (``XINFANG_TEST_POSTGRES_URL``; two processes on one SQLite file is not a
deployment the platform supports) and Apache Kafka: ``XINFANG_KAFKA_BOOTSTRAP_SERVERS`` when
set, else a single KRaft node started from the jars (``deploy/kafka/kafka.sh fetch``). Without
them the test skips; under ``CI=true`` it fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from evaluation.models import ratings
from services.launcher import ORDER, Suite, free_port_block
from shared.db import Database
from shared.settings import SERVICES
from tests.e2e.conftest import token, wait_for
from tests.reliability.kafka_cluster import KafkaCluster, group_assignment, read_topic
from tests.reliability.test_kafka_cluster import (
    OPERATOR,
    UNIT,
    Load,
    check_cases,
    missing,
    need_kafka,
    outbox_rows,
    scratch_databases,
)
from tracking.models import cases, clocks

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

HANDLER = token("unit", "scale-clerk", unit_id=UNIT)
CONSUMES = {  # the topics each service's consumer group reads
    "intake": ["tracking"],
    "routing": ["intake", "tracking"],
    "tracking": ["intake", "routing"],
    "evaluation": ["intake", "tracking", "evaluation"],  # its own: ratings, warnings
}
PARTITIONS = 12  # XINFANG_TOPIC_PARTITIONS default


@pytest.fixture
def bootstrap(tmp_path: Path) -> Iterator[str]:
    """Apache Kafka: XINFANG_KAFKA_BOOTSTRAP_SERVERS when set, else one KRaft node of ours."""
    external = os.environ.get("XINFANG_KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    kafka = KafkaCluster(tmp_path / "kafka", nodes=1, libs=need_kafka())
    try:
        kafka.start()
        yield kafka.bootstrap
    finally:
        kafka.close()


@pytest.fixture
def postgres_admin() -> str:
    admin = os.environ.get("XINFANG_TEST_POSTGRES_URL")
    if not admin:
        missing(
            "two replicas share PostgreSQL databases: set XINFANG_TEST_POSTGRES_URL "
            "(an account that may create databases)"
        )
    assert admin is not None
    return admin


@pytest.fixture
def replicas(postgres_admin: str, bootstrap: str, tmp_path: Path) -> Iterator[tuple[Suite, Suite]]:
    admin = postgres_admin
    prefix = f"so{uuid.uuid4().hex[:8]}"
    with scratch_databases(admin, prefix) as urls:
        env = {
            "XINFANG_TOPIC_PREFIX": prefix,
            "XINFANG_ENV": "test",
            # the schedulers scan often, so a clock or a window moved into the past is seen
            "XINFANG_SCHEDULER_INTERVAL_SECONDS": "0.5",
            # the query-code hash is most of a submission's CPU and not what this test is
            # about (a setting the fault suite lowers too; ignored where it does not exist)
            "XINFANG_QUERY_CODE_SCRYPT_N": "1024",
        }
        suites = tuple(
            Suite(
                var_dir=tmp_path / f"replica-{r}",
                base_port=free_port_block(5),
                bootstrap_servers=bootstrap,
                database_urls=urls,
                extra_env=env,
            )
            for r in "ab"
        )
        try:
            # Both replicas of each process start together, as a deployment rolls them out:
            # migrations and the unit directory's seeding must cope (advisory locks)
            for name in ORDER:
                for s in suites:
                    s.member(name).start()
            for name in ORDER:
                for s in suites:
                    s.wait_ready(name, timeout=300)
            yield suites  # type: ignore[misc]
        finally:
            for s in suites:
                s.stop()


# -- what the replicas say about themselves --


def log_lines(suite: Suite, service: str) -> list[dict[str, Any]]:
    lines = []
    path = suite.var_dir / "logs" / f"{service}.log"
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                continue
    return lines


def lease_takers(suites: tuple[Suite, Suite], service: str, lease: str) -> list[int]:
    """The replicas (0, 1) that logged taking ``lease``, in the order they took it."""
    taken = []
    for r, s in enumerate(suites):
        for line in log_lines(s, service):
            if line.get("message") == "lease acquired" and line.get("lease") == lease:
                taken.append((line["time"], r))
    return [r for _t, r in sorted(taken)]


def scans(suite: Suite, service: str, message: str, field: str) -> list[int]:
    """The ``field`` count of every scan a replica logged (it logs the scans that changed
    something)."""
    return [int(x[field]) for x in log_lines(suite, service) if x.get("message") == message]


def published(suite: Suite, service: str) -> int:
    """Events this replica's relay published since it started (its /metrics)."""
    text = httpx.get(f"{suite.url(service)}/metrics", timeout=10).text
    m = re.search(
        rf'^xinfang_events_published_total\{{service="{service}"\}} ([0-9.e+]+)$', text, re.M
    )
    return int(float(m.group(1))) if m else 0


def spread(bootstrap: str, group: str, topics: list[str]) -> dict[str, set[Any]] | None:
    """The group's members and partitions, once every partition of ``topics`` is held."""
    members = asyncio.run(group_assignment(bootstrap, group))
    held = [tp for parts in members.values() for tp in parts]
    wanted = {(t, p) for t in topics for p in range(PARTITIONS)}
    if sorted((tp.topic, tp.partition) for tp in held) != sorted(wanted):
        return None
    return members


# -- changes in the databases that stand for time passing --


async def move_acceptance_clocks(url: str, numbers: list[str]) -> int:
    """As if the unit had received these cases 20 days ago (their 15 days ran out)."""
    today = date.today()
    db = Database(url)
    try:
        async with db.transaction() as s:
            ids = select(cases.c.id).where(cases.c.tracking_number.in_(numbers))
            moved = await s.execute(
                update(clocks)
                .where(
                    clocks.c.case_id.in_(ids.scalar_subquery()),
                    clocks.c.kind == "acceptance",
                    clocks.c.stopped_at.is_(None),
                )
                .values(
                    started_on=today - timedelta(days=20),
                    due=today - timedelta(days=2),
                    due_soon_on=today - timedelta(days=5),
                    next_check=today - timedelta(days=5),
                )
            )
            return moved.rowcount
    finally:
        await db.dispose()


async def close_rating_windows(url: str, numbers: list[str]) -> int:
    db = Database(url)
    try:
        async with db.transaction() as s:
            moved = await s.execute(
                update(ratings)
                .where(
                    ratings.c.tracking_number.in_(numbers),
                    ratings.c.moment == "acceptance",
                    ratings.c.state == "open",
                )
                .values(window_closes=date.today() - timedelta(days=2))
            )
            return moved.rowcount
    finally:
        await db.dispose()


async def rating_states(url: str, numbers: list[str]) -> list[str]:
    db = Database(url)
    try:
        async with db.sessions() as s:
            q = select(ratings.c.state).where(
                ratings.c.tracking_number.in_(numbers), ratings.c.moment == "acceptance"
            )
            return list((await s.execute(q)).scalars())
    finally:
        await db.dispose()


def unsent(db_url: dict[str, str]) -> dict[str, int]:
    """Outbox rows not yet published, per service."""
    return {
        s: sum(not sent for _e, _t, sent in asyncio.run(outbox_rows(url)))
        for s, url in db_url.items()
    }


def events_by_case(bootstrap: str, topic: str, kind: str) -> Counter[str]:
    """How many ``kind`` events the topic holds per tracking number."""
    records = asyncio.run(read_topic(bootstrap, topic))
    return Counter(
        json.loads(r.value)["data"]["tracking_number"]
        for r in records
        if r.type == kind and r.value
    )


def test_two_replicas_of_everything_share_the_work_and_nothing_happens_twice(
    replicas: tuple[Suite, Suite], bootstrap: str
) -> None:
    total = 200
    a, b = replicas
    prefix = a.extra_env["XINFANG_TOPIC_PREFIX"]
    settings = a.settings()
    topic = {s: settings.topic(s) for s in SERVICES}
    db_url = {s: a.env()[f"XINFANG_{s.upper()}_DATABASE_URL"] for s in SERVICES}

    # (a) every consumer group has both replicas as members, each holding partitions
    groups: dict[str, dict[str, set[Any]]] = {}
    for service, reads in CONSUMES.items():
        group = settings.consumer_group(service)

        def both(group: str = group, reads: list[str] = reads) -> dict[str, set[Any]] | None:
            members = spread(bootstrap, group, [topic[t] for t in reads])
            if members and len(members) == 2 and all(members.values()):
                return members
            return None

        groups[service] = wait_for(both, timeout=120, every=1)

    # Load through both gateways in turn; the routing replica that publishes routing's
    # events is killed once a quarter of the petitions are in
    load = Load([a.url("gateway"), b.url("gateway")], total, f"so-{uuid.uuid4().hex[:6]}")
    killed: dict[str, Any] = {}

    def kill_routing() -> None:
        wait_for(lambda: load.reached(0.25), timeout=600, every=0.05)
        holder = lease_takers(replicas, "routing", topic["routing"])[-1]
        replicas[holder].kill("routing")
        killed.update(replica=holder, at=len(load.accepted))

    chaos = threading.Thread(target=kill_routing)
    chaos.start()
    load()
    chaos.join()
    assert len(load.accepted) == total
    dead = killed["replica"]
    survivor = replicas[1 - dead]
    assert not replicas[dead].member("routing").alive

    # The surviving routing replica took over every partition of the killed one
    reads = [topic[t] for t in CONSUMES["routing"]]
    group = settings.consumer_group("routing")
    alone = wait_for(
        lambda: (m := spread(bootstrap, group, reads)) and len(m) == 1 and m, timeout=120
    )
    (member,) = alone
    assert member in groups["routing"]  # the survivor itself, not a newcomer
    before = groups["routing"][member]
    assert len(alone[member]) == 2 * PARTITIONS > len(before)

    # (b) every petition is one case with the expected timeline; evaluation counts them once
    numbers = list(load.accepted.values())
    with httpx.Client(base_url=survivor.url("gateway"), timeout=60) as api:
        counts = check_cases(api, numbers, lambda: {"unsent": unsent(db_url)})
        assert counts == {"routed": total, "lost": 0, "doubled": 0, "bad_timelines": 0}

        def overview() -> dict[str, Any] | None:
            r = api.get("/api/v1/analytics/overview", headers=OPERATOR)
            assert r.status_code == 200, r.text
            body = r.json()
            return body if body["by_status"].get("routed", 0) >= total else None

        seen = wait_for(overview, timeout=120, every=1)
        assert seen["total"] == total and seen["by_status"] == {"routed": total}, seen

        # (d) the schedulers: due clocks and closed rating windows, one scan each
        overdue_cases, rated_cases = numbers[:10], numbers[10:14]
        for number in rated_cases:
            r = api.post(f"/api/v1/cases/{number}/accept", json={}, headers=HANDLER)
            assert r.status_code == 200, r.text
        assert asyncio.run(move_acceptance_clocks(db_url["tracking"], overdue_cases)) == 10

        def supervised() -> bool:
            for number in overdue_cases:
                params = {"tracking_number": number}
                r = api.get("/api/v1/supervision", params=params, headers=OPERATOR)
                if not r.json()["items"]:
                    return False
            return True

        wait_for(supervised, timeout=120, every=1)
        wait_for(
            lambda: (
                asyncio.run(rating_states(db_url["evaluation"], rated_cases)).count("open")
                == len(rated_cases)
            ),
            timeout=120,
        )
        assert asyncio.run(close_rating_windows(db_url["evaluation"], rated_cases)) == 4
        wait_for(
            lambda: (
                asyncio.run(rating_states(db_url["evaluation"], rated_cases)) == ["not_rated"] * 4
            ),
            timeout=120,
        )

    # Nothing left unpublished before the topics are read
    wait_for(lambda: not any(unsent(db_url).values()), timeout=120, every=1)

    # (c) the relays: who held each lease, what each published, what the topics hold
    relay = {}
    for service in SERVICES:
        rows = asyncio.run(outbox_rows(db_url[service]))
        records = asyncio.run(read_topic(bootstrap, topic[service]))
        copies = Counter(r.event_id for r in records)
        relay[service] = {
            "outbox": len(rows),
            "on_topic": len(records),
            "missing": sum(1 for e, _t, _s in rows if copies[e] == 0),
            "extra_copies": sum(n - 1 for n in copies.values() if n > 1),
            "lease_takers": lease_takers(replicas, service, topic[service]),
            "published_now": [
                published(s, service) if s.member(service).alive else None for s in replicas
            ],
        }

    # (d) who scanned
    clock_takers = lease_takers(replicas, "tracking", "tracking.clock-scheduler")
    rating_takers = lease_takers(replicas, "evaluation", "evaluation.rating-scheduler")
    clock_scans = [scans(s, "tracking", "clocks scanned", "overdue") for s in replicas]
    rating_scans = [
        scans(s, "evaluation", "rating windows and call-backs scanned", "not_rated")
        for s in replicas
    ]
    overdue_events = events_by_case(bootstrap, topic["tracking"], "tracking.clock.overdue.v1")
    opened_events = events_by_case(bootstrap, topic["tracking"], "tracking.supervision.opened.v1")
    not_rated_events = events_by_case(
        bootstrap, topic["evaluation"], "evaluation.rating.not_rated.v1"
    )

    print(
        f"\ntwo replicas (a, b), prefix {prefix}: submitted={total} "
        f"answered_201={len(load.accepted)} retried_503={load.retried} "
        f"routed={counts['routed']} lost={counts['lost']} doubled={counts['doubled']} "
        f"bad_timelines={counts['bad_timelines']} evaluation_total={seen['total']}"
    )
    for service, parts in groups.items():
        print(f"  group {service}: partitions per member {sorted(len(p) for p in parts.values())}")
    print(
        f"  killed routing of replica {'ab'[dead]} after {killed['at']} petitions; the "
        f"survivor went from {len(before)} to {len(alone[member])} partitions"
    )
    for service, r in relay.items():
        takers = "".join("ab"[t] for t in r["lease_takers"])
        print(
            f"  relay {service}: outbox={r['outbox']} on_topic={r['on_topic']} "
            f"missing={r['missing']} extra_copies={r['extra_copies']} lease taken by: {takers} "
            f"published by (a, b) since start: {r['published_now']}"
        )
    print(
        f"  clock scan lease taken by {clock_takers}, overdue per replica's scans "
        f"{[sum(x) for x in clock_scans]}; rating scan lease taken by {rating_takers}, "
        f"not_rated per replica's scans {[sum(x) for x in rating_scans]}"
    )
    print(
        f"  events: clock.overdue {sum(overdue_events.values())} for "
        f"{len(overdue_events)} cases, supervision.opened {sum(opened_events.values())}, "
        f"rating.not_rated {sum(not_rated_events.values())} for {len(not_rated_events)} cases"
    )

    # (c) one relay per service at a time; nothing published twice where the lease stayed
    for service, r in relay.items():
        assert r["missing"] == 0 and r["on_topic"] >= r["outbox"], (service, r)
        if service == "routing":
            # the killed replica held it; the survivor took it over and published since
            assert r["lease_takers"] == [dead, 1 - dead], r
            assert r["published_now"][1 - dead] > 0, r
        else:
            assert len(r["lease_takers"]) == 1, (service, r)
            assert r["extra_copies"] == 0 and r["on_topic"] == r["outbox"], (service, r)
            holder = r["lease_takers"][0]
            assert r["published_now"][1 - holder] == 0, (service, r)
            assert r["published_now"][holder] == r["outbox"], (service, r)
    # (d) one scanner each; a due clock crossed once produced one event, one supervision
    assert len(clock_takers) == 1 and len(rating_takers) == 1
    assert sum(clock_scans[1 - clock_takers[0]]) == 0 == len(clock_scans[1 - clock_takers[0]])
    assert len(rating_scans[1 - rating_takers[0]]) == 0
    assert sum(clock_scans[clock_takers[0]]) == 10
    assert sum(rating_scans[rating_takers[0]]) == 4
    assert overdue_events == Counter({n: 1 for n in overdue_cases}), overdue_events
    assert opened_events == Counter({n: 1 for n in overdue_cases}), opened_events
    assert not_rated_events == Counter({n: 1 for n in rated_cases}), not_rated_events
