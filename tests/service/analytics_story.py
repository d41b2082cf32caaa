"""What the analytics tests share: case lives written as the events intake, tracking and
evaluation publish (real envelopes), fed through evaluation's consumer path (inbox, parking)
in order or shuffled with redeliveries, on a migrated evaluation database."""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime, time, timedelta
from itertools import count
from pathlib import Path
from typing import Any

from evaluation.handlers import handlers as base_handlers
from evaluation.models import messaging, metadata
from evaluation.rollups import with_analytics
from shared import tracking_number as numbers
from shared.contracts import (
    CaseAccepted,
    CaseAssigned,
    CaseExtended,
    CaseRegistered,
    CaseReplied,
    CaseStatusChanged,
    ClockOverdue,
    PetitionCollectiveFlagged,
    PetitionSubmitted,
    RatingNotRated,
    RatingRecorded,
    SupervisionOpened,
)
from shared.db import Database
from shared.events import Envelope, EventData, new_envelope, parse_data
from shared.messaging.consumer import EventConsumer, Handler
from shared.settings import CommonSettings
from shared.vocabulary import CST
from tests.service import scratch

SETTINGS = CommonSettings(topic_prefix="svc")
MOMENTS = (
    "submitted_at",
    "registered_at",
    "changed_at",
    "routed_at",
    "accepted_at",
    "extended_at",
    "replied_at",
    "noticed_at",
    "opened_at",
    "rated_at",
    "recorded_at",
    "flagged_at",
    "requested_at",
    "scheduled_at",
    "cancelled_at",
)
_numbers = count(1)


def at(day: date, hour: int = 10) -> datetime:
    """A moment of a day in China time."""
    return datetime.combine(day, time(hour), CST)


def migrated_database(kind: str, directory: Path) -> AbstractAsyncContextManager[Database]:
    """An evaluation database at head (see ``tests.service.scratch``)."""
    return scratch.migrated_database("evaluation", kind, directory)


async def empty(db: Database) -> Database:
    return await scratch.empty(db, metadata)


def consumer_handlers(today: date, settings: CommonSettings = SETTINGS) -> dict[str, Handler]:
    return with_analytics(base_handlers(settings), settings, today=lambda: today)


class Case:
    """One case's life as the events that tell it, in the order their producers emit them."""

    def __init__(
        self,
        received: date,
        *,
        region: str = "110107011",
        category: str | None = "wage_arrears",
        kind: str = "grievance",
        repeat_of: Case | None = None,
        collective_id: str | None = None,
        theme: str | None = None,
        proactive: bool = False,
    ) -> None:
        self.id = str(uuid.uuid4())
        self.number = numbers.make(region[:6], received, next(_numbers))
        self.received, self.region, self.category = received, region, category
        self.unit: str | None = None
        self.events: list[Envelope] = []
        status = "linked_duplicate" if repeat_of else "received"
        self._add(
            PetitionSubmitted(
                petition_id=self.id,
                tracking_number=self.number,
                kind=kind,
                channel="web",
                title="拖欠工资",
                content="某公司拖欠工资。",
                category=category,
                region_code=region,
                owner_ref=f"owner-{self.id[:8]}",
                query_code_hash="h",
                received_at=at(received, 9),
                submitted_at=at(received, 9),
                repeat_outcome=status if repeat_of else None,
                repeat_of=repeat_of.id if repeat_of else None,
                collective_id=collective_id,
                theme=theme,
                proactive=proactive,
            )
        )
        common = {"case_id": self.id, "tracking_number": self.number}
        self._add(
            CaseRegistered(
                **common,
                status="received",
                kind=kind,
                channel="web",
                category=category,
                region_code=region,
                registered_at=at(received, 9),
            )
        )
        self.status(status, received)

    def _add(self, data: EventData) -> Case:
        envelope = new_envelope(data, subject=self.id, correlation_id=self.id)
        # the event's time is the moment it tells of, as if produced then (rebuild ranges)
        envelope.time = next(t for f in MOMENTS if (t := getattr(data, f, None)))
        self.events.append(envelope)
        return self

    @property
    def common(self) -> dict[str, Any]:
        return {"case_id": self.id, "tracking_number": self.number}

    def status(self, status: str, day: date) -> Case:
        return self._add(
            CaseStatusChanged(**self.common, status=status, unit_id=self.unit, changed_at=at(day))
        )

    def routed(self, unit: str, day: date, acceptance_due: date) -> Case:
        self.unit = unit
        self._add(
            CaseAssigned(
                **self.common,
                status="routed",
                unit_id=unit,
                routed_at=at(day),
                acceptance_due=acceptance_due,
            )
        )
        return self.status("routed", day)

    def accepted(self, day: date, reply_due: date, track: str = "general") -> Case:
        self._add(
            CaseAccepted(
                **self.common,
                unit_id=self.unit,
                track=track,
                accepted_at=at(day),
                reply_due=reply_due,
            )
        )
        return self.status("in_progress", day)

    def extended(self, day: date, days: int, reply_due: date) -> Case:
        self._add(
            CaseExtended(
                **self.common,
                unit_id=self.unit,
                days=days,
                reason="需要现场核查",
                extended_at=at(day),
                reply_due=reply_due,
            )
        )
        return self.status("extended", day)

    def replied(self, day: date) -> Case:
        self._add(
            CaseReplied(
                **self.common,
                unit_id=self.unit,
                outcome="support",
                replied_at=at(day, 16),
                review_request_due=day + timedelta(days=30),
            )
        )
        return self.status("replied", day)

    def overdue(self, clock: str, due: date) -> Case:
        return self._add(
            ClockOverdue(
                **self.common,
                clock=clock,
                unit_id=self.unit,
                due=due,
                noticed_at=at(due + timedelta(days=1), 1),
            )
        )

    def supervised(self, day: date) -> Case:
        return self._add(
            SupervisionOpened(
                supervision_id=str(uuid.uuid4()),
                **self.common,
                unit_id=self.unit,
                bureau_unit_id=self.region[:6] + ":petition_bureau",
                reason="overdue",
                level=0,
                opened_by="system",
                opened_at=at(day),
                response_due=day + timedelta(days=30),
            )
        )

    def rated(self, moment: str, level: str, day: date, previous: str | None = None) -> Case:
        return self._add(
            RatingRecorded(
                rating_id=f"{self.id}:{moment}",
                **self.common,
                moment=moment,
                level=level,
                unit_id=self.unit,
                region_code=self.region,
                rated_at=at(day, 20),
                changed=previous is not None,
                previous_level=previous,
                rated_by="owner",
            )
        )

    def not_rated(self, moment: str, opened: date) -> Case:
        return self._add(
            RatingNotRated(
                rating_id=f"{self.id}:{moment}",
                **self.common,
                moment=moment,
                unit_id=self.unit,
                region_code=self.region,
                window_opened_at=at(opened),
                window_closes=opened + timedelta(days=30),
                recorded_at=at(opened + timedelta(days=31), 1),
            )
        )

    def flagged(self, collective_id: str, day: date) -> Case:
        return self._add(
            PetitionCollectiveFlagged(
                petition_id=self.id,
                tracking_number=self.number,
                collective_id=collective_id,
                petitioners=5,
                region_code=self.region[:6],
                flagged_at=at(day),
            )
        )


def topic_of(envelope: Envelope) -> str:
    return SETTINGS.topic(envelope.source.removeprefix("xinfang/"))


def in_order(cases: list[Case]) -> list[Envelope]:
    return [e for c in cases for e in c.events]


def shuffled(cases: list[Case], seed: int, redeliver: float = 0.25) -> list[Envelope]:
    """Every event once or more, in an order Kafka allows: each producer's events about a
    case stay in order (one topic, one key), anything else may come in any order, and some
    events come again later (redelivery)."""
    rng = random.Random(seed)
    queues: dict[tuple[str, str], list[Envelope]] = defaultdict(list)
    for e in in_order(cases):
        queues[(topic_of(e), e.subject)].append(e)
    keys = sorted(queues)
    out: list[Envelope] = []
    while keys:
        key = rng.choice(keys)
        out.append(queues[key].pop(0))
        if rng.random() < redeliver:
            out.append(rng.choice(out))
        if not queues[key]:
            keys.remove(key)
    return out


async def feed(
    db: Database, handlers: dict[str, Handler], envelopes: list[Envelope]
) -> Counter[str]:
    """Applies each envelope as evaluation's consumer does (inbox, parking)."""
    consumer = EventConsumer(db, messaging, SETTINGS, "evaluation", [], handlers)
    outcomes: Counter[str] = Counter()
    for e in envelopes:
        outcomes[await consumer.apply(e, parse_data(e), handlers[e.type])] += 1
    return outcomes


def d(month: int, day: int) -> date:
    return date(2025, month, day)


# The scorecards below are as of this day (backlog: open more than 90 days)
TODAY = d(6, 15)
HRSS, HOUSING = "110107:hrss", "110107:housing"


def march() -> dict[str, Case]:
    """Cases received in March 2025 (the figures they give: tests/service/test_scorecards.py).
    At 110107:hrss (石景山区, Beijing: no prefecture level) unless said otherwise."""
    a = Case(d(3, 3)).routed(HRSS, d(3, 3), d(3, 18)).accepted(d(3, 5), d(5, 4))
    a.rated("acceptance", "satisfied", d(3, 6)).replied(d(3, 25))
    a.rated("reply", "basically_satisfied", d(3, 26)).status("closed", d(4, 25))
    # accepted late, extended, replied within the extended period, rating window missed
    b = Case(d(3, 4)).routed(HRSS, d(3, 4), d(3, 19)).accepted(d(3, 21), d(5, 20))
    b.rated("acceptance", "dissatisfied", d(3, 22)).extended(d(5, 1), 30, d(6, 19))
    b.replied(d(6, 10)).not_rated("reply", d(6, 10))
    # never accepted: the acceptance clock ran out, supervision opened and escalated
    c = Case(d(3, 5)).routed(HRSS, d(3, 5), d(3, 20)).overdue("acceptance", d(3, 20))
    c.supervised(d(3, 21)).supervised(d(4, 21))
    # replied after the handling clock ran out; a rating changed; closed after 90 days
    dd = Case(d(3, 10)).routed(HRSS, d(3, 10), d(3, 25)).accepted(d(3, 12), d(5, 11))
    dd.overdue("handling", d(5, 11)).replied(d(5, 20))
    dd.rated("reply", "satisfied", d(5, 21)).rated("reply", "dissatisfied", d(5, 21), "satisfied")
    dd.status("closed", d(6, 14))
    # not accepted (a decision within the acceptance period)
    e = Case(d(3, 20)).routed(HRSS, d(3, 20), d(4, 4)).status("not_accepted", d(3, 25))
    # accepted, then petitioned again by the same petitioner (a repeat petition in April)
    f = Case(d(3, 20)).routed(HRSS, d(3, 20), d(4, 4)).accepted(d(3, 21), d(5, 20))
    g = Case(d(4, 10), repeat_of=f)
    # simplified track, another category, under 90 days old and open
    h = Case(d(3, 18), category="labour_dispute").routed(HRSS, d(3, 18), d(4, 2))
    h.accepted(d(3, 19), d(4, 2), "simplified").not_rated("acceptance", d(3, 19))
    h.replied(d(3, 28)).rated("reply", "satisfied", d(3, 29))
    # moved from housing to hrss after an objection, accepted there
    x = Case(d(3, 11), region="110107").routed(HOUSING, d(3, 11), d(3, 26))
    x.status("received", d(3, 12)).routed(HRSS, d(3, 12), d(3, 27)).accepted(d(3, 14), d(5, 13))
    # elsewhere in Beijing, and in Hebei (a province with prefectures)
    i = Case(d(3, 6), region="110108").routed("110108:hrss", d(3, 6), d(3, 21))
    i.accepted(d(3, 7), d(5, 6)).replied(d(3, 17))
    j = Case(d(3, 7), region="130102").routed("130102:hrss", d(3, 7), d(3, 22))
    j.status("withdrawn", d(3, 9))
    return {"a": a, "b": b, "c": c, "d": dd, "e": e, "f": f, "g": g, "h": h, "x": x, "i": i, "j": j}


# 110107:hrss in March: 8 cases (a b c d e f h x; g repeats f in April and has no unit)
UNIT_FIGURES = {
    "cases_received": 8,
    "rating_rate": 0.7143,  # 5 rated of 7 closed windows
    "satisfaction_rate": 0.6,  # (2 satisfied + 1 basically) / 5
    "on_time_acceptance_rate": 0.75,  # 6 of 8 (b late, c overdue; e's refusal on time)
    "on_time_reply_rate": 0.75,  # 3 of 4 (d late; b within its extension)
    "average_handling_days": 44.75,  # (20 + 81 + 69 + 9) / 4
    "extension_rate": 0.1667,  # b of 6 accepted
    "repeat_petition_rate": 0.125,  # f of 8
    "backlog_cases": 5,  # b c x open > 90 days, d closed after 90, f repeated
    "backlog_resolution_rate": 0.2,  # d
    "supervisions": 2,  # c, opened and escalated
}
UNIT_COUNTS = {
    "petitions": 8,
    "received": 8,
    "repeated": 1,
    "accepted": 6,
    "acceptance_judged": 8,
    "accepted_on_time": 6,
    "replied": 4,
    "reply_judged": 4,
    "replied_on_time": 3,
    "handling_days": 179,
    "extended": 1,
    "concluded": 3,
    "backlog": 5,
    "backlog_resolved": 1,
    "supervisions": 2,
    "rated": 5,
    "satisfied": 2,
    "basically_satisfied": 1,
    "dissatisfied": 2,
    "not_rated": 2,
    # the story has no themed-channel petition and no grid worker's report
    "themed": 0,
    "proactive": 0,
    "proactive_replied": 0,
    "proactive_concluded": 0,
}
# Beijing adds i (110108: accepted and replied on time in 10 days, open > 90 days)
BEIJING_FIGURES = UNIT_FIGURES | {
    "cases_received": 9,
    "on_time_acceptance_rate": 0.7778,
    "on_time_reply_rate": 0.8,
    "average_handling_days": 37.8,
    "extension_rate": 0.1429,
    "repeat_petition_rate": 0.1111,
    "backlog_cases": 6,
    "backlog_resolution_rate": 0.1667,
}
# The country adds j (130102, withdrawn before any acceptance decision)
NATIONAL_FIGURES = BEIJING_FIGURES | {"cases_received": 10, "repeat_petition_rate": 0.1}
