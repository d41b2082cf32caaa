"""Tracking's clock scheduler against a real database (SQLite and PostgreSQL): due-soon,
overdue clocks opening supervision, escalation up to the national bureau, the petitioner's
review window closing the case, idempotence, batches, and one scanner among replicas."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from sqlalchemy import text, update

from shared.db import Database
from tests.service.tracking_db import (
    SETTINGS,
    START,
    TOPIC,
    add_case,
    empty,
    events,
    migrated_database,
    outbox_size,
    rows,
)
from tracking.clocks import calendar_of
from tracking.models import cases, clocks, supervisions, timeline
from tracking.scheduler import Scheduler, _due, scan
from tracking.store import Writer

ACCEPTANCE_DUE = date(2025, 3, 18)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    async with migrated_database(request.param, tmp_path_factory.mktemp("scheduler")) as db:
        yield db


@pytest.fixture
async def db(migrated: Database) -> Database:
    return await empty(migrated)


async def test_a_clock_goes_due_soon_then_overdue_and_opens_supervision(db: Database) -> None:
    case_id = await add_case(db, unit_id="110107011:township", region="110107011")
    assert (await scan(db, SETTINGS, date(2025, 3, 14))).read == 0  # nothing has come yet

    first = await scan(db, SETTINGS, date(2025, 3, 15))
    assert (first.read, first.due_soon, first.overdue) == (1, 1, 0)
    (clock,) = await rows(db, clocks, clocks.c.case_id == case_id)
    assert (clock.state, clock.next_check) == ("due_soon", date(2025, 3, 19))
    assert [e["type"] for e in await events(db, case_id)] == ["tracking.clock.due_soon.v1"]

    # Not on its last day: a step done on the due day is on time
    assert (await scan(db, SETTINGS, ACCEPTANCE_DUE)).read == 0

    late = await scan(db, SETTINGS, date(2025, 3, 19))
    assert (late.overdue, late.supervisions_opened) == (1, 1)
    acceptance = (
        await rows(db, clocks, clocks.c.case_id == case_id, clocks.c.kind == "acceptance")
    )[0]
    assert (acceptance.state, acceptance.next_check, acceptance.stopped_at) == (
        "overdue",
        None,
        None,
    )
    (sup,) = await rows(db, supervisions, supervisions.c.case_id == case_id)
    assert (sup.unit_id, sup.bureau_unit_id) == ("110107011:township", "110107:petition_bureau")
    assert (sup.reason, sup.level, sup.status, sup.opened_by) == ("overdue", 0, "open", "system")
    assert sup.response_due == date(2025, 4, 18)  # 30 days from the day it opened
    (own,) = await rows(db, clocks, clocks.c.supervision_id == sup.id)
    assert (own.kind, own.unit_id, own.due, own.state) == (
        "supervision",
        "110107011:township",
        date(2025, 4, 18),
        "on_time",
    )
    notes = await rows(db, timeline, timeline.c.case_id == case_id)
    assert any("overdue" in n.note and not n.public for n in notes)
    types = [e["type"] for e in await events(db, case_id)]
    assert types[1:] == ["tracking.clock.overdue.v1", "tracking.supervision.opened.v1"]
    opened = (await events(db, case_id))[-1]["data"]
    assert opened["bureau_unit_id"] == "110107:petition_bureau"
    assert opened["response_due"] == "2025-04-18"


async def test_scanning_the_same_day_again_changes_and_emits_nothing(db: Database) -> None:
    for _ in range(3):
        await add_case(db)
    await add_case(db, clock="handling", days=60, start=date(2025, 1, 2))  # long overdue
    today = date(2025, 3, 19)
    first = await scan(db, SETTINGS, today)
    assert (first.overdue, first.supervisions_opened) == (4, 4)
    size = await outbox_size(db)
    before = await rows(db, clocks)
    again = await scan(db, SETTINGS, today)
    assert again.read == 0 and again.changed() == 0
    assert await outbox_size(db) == size
    assert await rows(db, clocks) == before
    assert len(await rows(db, supervisions)) == 4


async def test_unanswered_supervision_escalates_up_to_the_national_bureau(db: Database) -> None:
    case_id = await add_case(db)
    today = date(2025, 3, 19)
    await scan(db, SETTINGS, today)
    chain = []
    for _ in range(4):
        (current,) = await rows(
            db, supervisions, supervisions.c.case_id == case_id, supervisions.c.status == "open"
        )
        chain.append((current.bureau_unit_id, current.level))
        today = current.response_due + timedelta(days=1)
        assert (await scan(db, SETTINGS, current.response_due)).escalated == 0  # not yet
        done = await scan(db, SETTINGS, today)
        assert (done.overdue, done.escalated) == (1, 1)
        (old,) = await rows(db, supervisions, supervisions.c.id == current.id)
        assert old.status == "escalated" and old.escalated_to
        (new,) = await rows(db, supervisions, supervisions.c.id == old.escalated_to)
        assert (new.escalated_from, new.unit_id, new.status) == (old.id, "110107:hrss", "open")
        assert new.response_due > today
    (last,) = await rows(
        db, supervisions, supervisions.c.case_id == case_id, supervisions.c.status == "open"
    )
    chain.append((last.bureau_unit_id, last.level))
    assert chain == [
        ("110107:petition_bureau", 0),
        ("110000:petition_bureau", 1),
        ("000000:petition_bureau", 2),
        ("000000:petition_bureau", 3),  # the national bureau keeps it, a measure higher
        ("000000:petition_bureau", 4),
    ]
    types = [e["type"] for e in await events(db, case_id)]
    assert types.count("tracking.supervision.escalated.v1") == 4
    assert types.count("tracking.supervision.opened.v1") == 5
    escalated = [e["data"] for e in await events(db, case_id) if "escalated" in e["type"]]
    assert [e["level"] for e in escalated] == [1, 2, 3, 4]
    # the escalated ones' clocks stopped, late; only the open one runs
    running = await rows(db, clocks, clocks.c.kind == "supervision", clocks.c.stopped_at.is_(None))
    assert [c.supervision_id for c in running] == [last.id]
    assert all(
        c.met is False
        for c in await rows(
            db, clocks, clocks.c.kind == "supervision", clocks.c.stopped_at.is_not(None)
        )
    )


async def test_answered_supervision_does_not_escalate(db: Database) -> None:
    case_id = await add_case(db)
    await scan(db, SETTINGS, date(2025, 3, 19))
    (sup,) = await rows(db, supervisions, supervisions.c.case_id == case_id)
    async with db.transaction() as s:  # what POST /supervision/{id}/response does
        await s.execute(
            update(supervisions).where(supervisions.c.id == sup.id).values(status="responded")
        )
        w = Writer(s, TOPIC, case_id, None)
        await w.stop_clock(case_id, "supervision", date(2025, 4, 1), supervision_id=sup.id)
    later = await scan(db, SETTINGS, date(2025, 6, 1))
    assert later.read == 0
    assert [s.status for s in await rows(db, supervisions)] == ["responded"]


@pytest.mark.parametrize(
    ("window", "status"), [("review_request", "replied"), ("rereview_request", "review_replied")]
)
async def test_the_petitioners_window_running_out_closes_the_case(
    db: Database, window: str, status: str
) -> None:
    case_id = await add_case(db, status=status, clock=window, days=30)
    await add_case(db, status="under_review", clock=window, days=30)  # asked meanwhile
    async with db.transaction() as s:  # a supervision on the case keeps running after it
        w = Writer(s, TOPIC, case_id, None, calendar_of(SETTINGS))
        await w.start_clock(case_id, "supervision", START, 90, basis="s", supervision_id="x")
    done = await scan(db, SETTINGS, date(2025, 4, 3))  # due Wed 2 April
    assert (done.overdue, done.cases_closed, done.supervisions_opened) == (2, 1, 0)
    (case,) = await rows(db, cases, cases.c.id == case_id)
    assert case.status == "closed"
    entry = (await rows(db, timeline, timeline.c.case_id == case_id))[-1]
    assert (entry.status, entry.actor, entry.public) == ("closed", "system", True)
    assert "within 30 days" in entry.note
    running = await rows(db, clocks, clocks.c.case_id == case_id, clocks.c.stopped_at.is_(None))
    assert [c.kind for c in running] == ["supervision"]
    changed = [
        e["data"] for e in await events(db, case_id) if e["type"].endswith("status_changed.v1")
    ]
    assert changed[-1]["status"] == "closed" and changed[-1]["previous"] == status
    others = await rows(db, cases, cases.c.status == "under_review")
    assert len(others) == 1  # a case that moved on is not closed


async def test_an_objection_window_just_closes(db: Database) -> None:
    case_id = await add_case(db, clock="objection", days=5)
    done = await scan(db, SETTINGS, date(2025, 4, 1))
    assert (done.overdue, done.supervisions_opened, done.cases_closed) == (1, 0, 0)
    assert [e["type"] for e in await events(db, case_id)] == ["tracking.clock.overdue.v1"]


async def test_batches_cover_every_clock_once(db: Database) -> None:
    for n in range(7):
        await add_case(db, start=START + timedelta(days=n % 3))
    done = await scan(db, SETTINGS, date(2025, 3, 17), batch_size=2)
    # started 3, 4, 5 March: due soon from 15, 16, 17 March
    assert (done.read, done.due_soon, done.batches) == (7, 7, 4)
    assert {c.state for c in await rows(db, clocks)} == {"due_soon"}


async def test_the_scan_reads_the_next_check_index(db: Database) -> None:
    query = _due(date(2025, 3, 19), (date(2025, 3, 1), 5), 500)
    async with db.sessions() as s:
        compiled = query.compile(s.bind, compile_kwargs={"literal_binds": True})
        if db.dialect == "postgresql":
            await s.execute(text("SET enable_seqscan = off"))
            plan = "\n".join(r[0] for r in await s.execute(text(f"EXPLAIN {compiled}")))
        else:
            plan = "\n".join(
                str(r[-1]) for r in await s.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))
            )
    assert "ix_clocks_next_check" in plan, plan


# PostgreSQL only: SQLite is the single-process embedded default, with no lease to share
@pytest.mark.parametrize("migrated", ["postgres"], indirect=True)
async def test_one_replica_scans_at_a_time(db: Database) -> None:
    await add_case(db)
    replica = Database(db.url)
    today = lambda: date(2025, 3, 15)  # noqa: E731
    first, second = Scheduler(db, SETTINGS, today=today), Scheduler(replica, SETTINGS, today=today)
    try:
        counts = await first.tick()
        assert counts is not None and counts.due_soon == 1
        assert await second.tick() is None  # the other replica waits
        assert await first.tick() is not None  # the holder keeps it
        await first.lease.release()  # the holder stops (or dies: its session ends)
        assert await second.tick() is not None
        assert await first.tick() is None
    finally:
        await first.lease.release()
        await second.lease.release()
        await replica.dispose()
