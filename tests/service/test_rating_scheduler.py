"""Rating windows and call-back clocks against a real database (SQLite and PostgreSQL): the
moments' events open the windows, a window that closes unrated is stored as not_rated (never
satisfied), a call-back past due is marked overdue, scanning again changes nothing, and one
replica scans at a time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest

from evaluation.handlers import handlers
from evaluation.models import callbacks, ratings
from evaluation.rating_scheduler import RatingScheduler, scan
from evaluation.ratings_store import Writer
from shared.contracts import CaseAccepted, CaseReplied
from shared.db import Database
from shared.events import EventData, new_envelope
from tests.service.ratings_db import SETTINGS, add_case, empty, events, migrated_database, rows

ACCEPTED = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)  # Monday 3 March in Beijing
CLOSES = date(2025, 4, 2)  # + 30 days
HANDLERS = handlers(SETTINGS)


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
async def migrated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Database]:
    async with migrated_database(request.param, tmp_path_factory.mktemp("ratings")) as db:
        yield db


@pytest.fixture
async def db(migrated: Database) -> Database:
    return await empty(migrated)


async def consume(db: Database, data: EventData, case_id: str) -> None:
    envelope = new_envelope(data, subject=case_id, correlation_id="svc-test")
    async with db.transaction() as s:
        await HANDLERS[data.TYPE](s, envelope, data)


def accepted(case: object, at: datetime = ACCEPTED) -> CaseAccepted:
    return CaseAccepted(
        case_id=case.case_id,  # type: ignore[attr-defined]
        tracking_number=case.tracking_number,  # type: ignore[attr-defined]
        unit_id="110107:hrss",
        track="general",
        accepted_at=at,
        reply_due=date(2025, 5, 6),
    )


async def test_the_moments_open_the_windows_once(db: Database) -> None:
    case = await add_case(db, status="routed")
    await consume(db, accepted(case), case.case_id)
    await consume(db, accepted(case), case.case_id)  # delivered twice: still one window
    (slot,) = await rows(db, ratings, ratings.c.case_id == case.case_id)
    assert (slot.moment, slot.state, slot.unit_id) == ("acceptance", "open", "110107:hrss")
    assert (slot.opened_at, slot.window_closes) == (ACCEPTED, CLOSES)
    replied_at = datetime(2025, 4, 10, 3, 0, tzinfo=UTC)
    reply = CaseReplied(
        case_id=case.case_id,
        tracking_number=case.tracking_number,
        unit_id="110107:hrss",
        outcome="support",
        replied_at=replied_at,
        review_request_due=date(2025, 5, 12),
    )
    await consume(db, reply, case.case_id)
    reply_slot = (
        await rows(db, ratings, ratings.c.case_id == case.case_id, ratings.c.moment == "reply")
    )[0]
    assert (reply_slot.state, reply_slot.window_closes) == ("open", date(2025, 5, 12))
    assert await events(db, case.case_id) == []  # a window opening is no event


@pytest.mark.parametrize(
    "facts",
    [
        {"kind": "accusation"},
        {"identity_unclear": True},
        {"kind": "suggestion", "anonymous": True},
        {"repeat_of": "8d3c0f0e-0000-4000-8000-000000000001"},
    ],
)
async def test_a_case_never_rated_opens_no_window(db: Database, facts: dict[str, object]) -> None:
    case = await add_case(db, status="routed", **facts)
    await consume(db, accepted(case), case.case_id)
    assert await rows(db, ratings) == []


async def test_a_window_closing_unrated_is_stored_as_not_rated(db: Database) -> None:
    silent = await add_case(db, status="routed")
    rated = await add_case(db, status="routed")
    later = await add_case(db, status="routed")
    for case, at in ((silent, ACCEPTED), (rated, ACCEPTED), (later, ACCEPTED + timedelta(1))):
        await consume(db, accepted(case, at), case.case_id)
    (slot,) = await rows(db, ratings, ratings.c.case_id == rated.case_id)
    async with db.transaction() as s:
        w = Writer(s, SETTINGS, "svc-test")
        assert await w.rate(slot, level="satisfied", comment=None, by="owner", now=ACCEPTED)

    assert (await scan(db, SETTINGS, CLOSES)).not_rated == 0  # the last day is still open
    done = await scan(db, SETTINGS, CLOSES + timedelta(days=1))
    assert (done.not_rated, done.skipped) == (1, 0)
    states = {r.case_id: r.state for r in await rows(db, ratings)}
    assert states == {silent.case_id: "not_rated", rated.case_id: "rated", later.case_id: "open"}
    (closed,) = await rows(db, ratings, ratings.c.case_id == silent.case_id)
    assert closed.level is None and closed.closed_at is not None  # never satisfied
    (event,) = await events(db, silent.case_id)
    assert event["type"] == "evaluation.rating.not_rated.v1"
    assert event["data"]["moment"] == "acceptance"
    assert event["data"]["window_closes"] == "2025-04-02"
    assert event["data"]["unit_id"] == "110107:hrss"

    again = await scan(db, SETTINGS, CLOSES + timedelta(days=1))
    assert (again.not_rated, again.callbacks_overdue, again.batches) == (0, 0, 0)
    assert len(await events(db, silent.case_id)) == 1


async def test_batches_cover_every_window_once(db: Database) -> None:
    for n in range(5):
        case = await add_case(db, status="routed")
        await consume(db, accepted(case, ACCEPTED + timedelta(days=n % 2)), case.case_id)
    done = await scan(db, SETTINGS, date(2025, 5, 1), batch_size=2)
    assert (done.not_rated, done.batches) == (5, 3)
    assert {r.state for r in await rows(db, ratings)} == {"not_rated"}


async def test_a_dissatisfied_rating_opens_a_call_back_that_goes_overdue(db: Database) -> None:
    case = await add_case(db, status="routed")
    await consume(db, accepted(case), case.case_id)
    (slot,) = await rows(db, ratings)
    rated_at = datetime(2025, 3, 4, 2, 0, tzinfo=UTC)
    async with db.transaction() as s:
        w = Writer(s, SETTINGS, "svc-test")
        assert await w.rate(
            slot, level="dissatisfied", comment="没人联系我", by="owner", now=rated_at
        )
    (cb,) = await rows(db, callbacks)
    assert (cb.unit_id, cb.status, cb.moment) == ("110107:hrss", "open", "acceptance")
    assert cb.due == date(2025, 3, 11)  # 7 days from Tuesday 4 March
    types = [e["type"] for e in await events(db, case.case_id)]
    assert types == ["evaluation.rating.recorded.v1", "evaluation.callback.opened.v1"]
    recorded = (await events(db, case.case_id))[0]["data"]
    assert recorded["level"] == "dissatisfied" and recorded["has_comment"] is True
    assert "没人联系我" not in str(await events(db, case.case_id))  # no free text in events

    assert (await scan(db, SETTINGS, cb.due)).callbacks_overdue == 0
    late = await scan(db, SETTINGS, cb.due + timedelta(days=1))
    assert late.callbacks_overdue == 1
    (cb,) = await rows(db, callbacks)
    assert cb.status == "overdue" and cb.overdue_at is not None
    assert (await events(db, case.case_id))[-1]["type"] == "evaluation.callback.overdue.v1"
    assert (await scan(db, SETTINGS, cb.due + timedelta(days=2))).callbacks_overdue == 0


# PostgreSQL only: SQLite is the single-process embedded default, with no lease to share
@pytest.mark.parametrize("migrated", ["postgres"], indirect=True)
async def test_one_replica_scans_at_a_time(db: Database) -> None:
    case = await add_case(db, status="routed")
    await consume(db, accepted(case), case.case_id)
    replica = Database(db.url)
    today = lambda: date(2025, 4, 3)  # noqa: E731
    first = RatingScheduler(db, SETTINGS, today=today)
    second = RatingScheduler(replica, SETTINGS, today=today)
    try:
        counts = await first.tick()
        assert counts is not None and counts.not_rated == 1
        assert await second.tick() is None  # the other replica waits
        await first.lease.release()  # the holder stops (or dies: its session ends)
        assert await second.tick() is not None
        assert await first.tick() is None
    finally:
        await first.lease.release()
        await second.lease.release()
        await replica.dispose()
