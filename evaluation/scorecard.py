"""Unit and region scorecards (PROCEDURE §8, §11) as pure rules, no I/O: what one case adds
to the rollups, and the figures computed from their sums.

A case counts in the scorecard of the unit handling it now and of its region at every level
above it (county, prefecture where the region data has one, province, and the whole country
``000000``), on the day it was received (China Standard Time) and under its category. What a
case adds is a function of its ``case_reads`` row, its facts (``scorecard_cases``: overdue
clocks and ratings), whether a later petition repeats it, and today (for backlog only). So
the rollups are kept by taking away what the case added last time and adding what it adds
now (``evaluation/rollups.py``): applying the same facts twice, or in another order, ends
with the same sums.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from typing import Any

from shared.regions import RegionDirectory
from shared.vocabulary import CST

NATIONAL = "000000"
UNCATEGORIZED = ""  # the rollups' key for petitions without a category
RATED = ("satisfied", "basically_satisfied", "dissatisfied")
NOT_RATED = "not_rated"

# The counters of a rollup row, each a sum over the cases of the row (definitions: README,
# "Scorecards and situation")
MEASURES = (
    "petitions",  # every petition registered, repeat petitions included
    "received",  # cases: petitions that do not repeat an earlier case
    "repeated",  # cases a later petition repeats (same petitioner, same matter)
    "accepted",  # cases accepted by the unit
    "acceptance_judged",  # acceptance decided (accepted or not accepted), or its clock overdue
    "accepted_on_time",  # decided on or before the acceptance deadline
    "replied",  # cases with a written reply after acceptance
    "reply_judged",  # replied, or the handling clock overdue
    "replied_on_time",  # replied on or before the reply deadline (extension included)
    "handling_days",  # sum over replied cases of days from acceptance to reply
    "extended",  # cases whose handling period was extended
    "concluded",  # cases that reached a final status
    "backlog",  # backlog cases (积案): open more than backlog_days, or repeated
    "backlog_resolved",  # backlog cases concluded
    "supervisions",  # supervisions opened on the cases (escalations included)
    "rated",  # ratings given (each moment of a case counts once)
    "satisfied",
    "basically_satisfied",
    "dissatisfied",
    "not_rated",  # rating windows that closed without a rating
    "themed",  # petitions through a themed channel (专题通道), counted in "petitions" too
    # Grid workers' reports (源头化解), counted apart: in none of the counters above
    "proactive",  # problems registered on rounds, no petitioner behind them
    "proactive_replied",  # of those, answered by the unit (the problem dealt with)
    "proactive_concluded",  # of those, at a final status
)


def cst_day(moment: datetime | date) -> date:
    return moment.astimezone(CST).date() if isinstance(moment, datetime) else moment


@cache
def region_keys(code: str) -> tuple[str, ...]:
    """The regions a case in ``code`` (6, 9 or 12 digits) counts in, county first, the whole
    country last: the county, its prefecture and its province where the region data has them
    (Beijing's districts have no prefecture; 东莞's townships have none but the prefecture),
    each as its 6-digit code. An unknown county still counts, with its province."""
    directory = RegionDirectory.default()
    county = code[:6]
    prefecture, province = county[:4] + "00", county[:2] + "0000"
    keys = [county]
    if prefecture not in keys and directory.get(prefecture) is not None:
        keys.append(prefecture)
    if province not in keys:
        keys.append(province)
    return (*keys, NATIONAL)


def region_level(key: str) -> str:
    if key == NATIONAL:
        return "national"
    region = RegionDirectory.default().get(key) if len(key) in (6, 9, 12) else None
    if region is not None:
        return region.level
    return "province" if key.endswith("0000") else "county"


def region_key(code: str) -> str:
    """The rollup key of a region code given by a reader: 6 digits (``000000`` the country),
    or a township's 9 and 12 digits, which count in their county."""
    code = code.strip()
    if code in ("", NATIONAL, NATIONAL * 2):
        return NATIONAL
    return code[:6]


@dataclass(frozen=True)
class Contribution:
    """What one case adds: the same counters to every scope (its unit, its regions)."""

    day: date
    category: str
    unit_id: str | None
    regions: tuple[str, ...]
    measures: dict[str, int] = field(default_factory=dict)

    def scopes(self) -> list[tuple[str, str]]:
        unit = [("unit", self.unit_id)] if self.unit_id else []
        return unit + [("region", r) for r in self.regions]

    def cells(self) -> dict[tuple[str, str, date, str], dict[str, int]]:
        return {(kind, sid, self.day, self.category): self.measures for kind, sid in self.scopes()}

    def dump(self) -> str:
        return json.dumps(
            [self.day.isoformat(), self.category, self.unit_id, self.regions, self.measures],
            separators=(",", ":"),
            sort_keys=True,
        )

    @classmethod
    def load(cls, text: str) -> Contribution:
        day, category, unit_id, regions, measures = json.loads(text)
        return cls(date.fromisoformat(day), category, unit_id, tuple(regions), measures)


def contribution(
    case: Any,
    facts: Any | None,
    *,
    repeated: bool,
    today: date,
    backlog_days: int,
) -> Contribution:
    """What ``case`` (a ``case_reads`` row) adds, given its ``facts`` (a ``scorecard_cases``
    row or None), whether a later petition repeats it, and today."""
    received = cst_day(case.received_at or case.registered_at)
    m: dict[str, int]
    if case.proactive:
        m = {
            "proactive": 1,
            "proactive_replied": int(case.replied_at is not None),
            "proactive_concluded": int(case.concluded_at is not None),
        }
    else:
        m = {"petitions": 1, "themed": int(case.theme is not None)}
    if case.repeat_of is None and not case.proactive:
        m.update(_case_measures(case, facts, repeated, received, today, backlog_days))
    measures = {k: v for k, v in m.items() if v}
    return Contribution(
        day=received,
        category=case.category or UNCATEGORIZED,
        unit_id=case.unit_id,
        regions=region_keys(case.region_code),
        measures=measures,
    )


def _case_measures(
    case: Any, facts: Any | None, repeated: bool, received: date, today: date, backlog_days: int
) -> dict[str, int]:
    m = {"received": 1, "repeated": int(repeated), "supervisions": case.supervision_count or 0}
    accepted = cst_day(case.accepted_at) if case.accepted_at else None
    not_accepted = case.status == "not_accepted" and case.concluded_at is not None
    decided = accepted or (cst_day(case.concluded_at) if not_accepted else None)
    if case.acceptance_due is not None:
        late = _overdue(facts, "acceptance", case.unit_id, case.acceptance_due)
        m["acceptance_judged"] = int(decided is not None or late)
        m["accepted_on_time"] = int(decided is not None and decided <= case.acceptance_due)
    m["accepted"] = int(accepted is not None)
    replied = cst_day(case.replied_at) if case.replied_at and accepted else None
    if replied is not None:
        m["replied"] = 1
        m["handling_days"] = (replied - accepted).days  # type: ignore[operator]
    if case.reply_due is not None:
        late = _overdue(facts, "handling", case.unit_id, case.reply_due)
        m["reply_judged"] = int(replied is not None or late)
        m["replied_on_time"] = int(replied is not None and replied <= case.reply_due)
    m["extended"] = int(bool(case.extension_days))
    concluded = cst_day(case.concluded_at) if case.concluded_at else None
    m["concluded"] = int(concluded is not None)
    m["backlog"] = int(repeated or (concluded or today) > received + timedelta(backlog_days))
    m["backlog_resolved"] = int(bool(m["backlog"]) and concluded is not None)
    for moment in ("acceptance", "reply"):
        level = getattr(facts, f"{moment}_rating", None) if facts is not None else None
        if level in RATED:
            m["rated"] = m.get("rated", 0) + 1
            m[level] = m.get(level, 0) + 1
        elif level == NOT_RATED:
            m["not_rated"] = m.get("not_rated", 0) + 1
    return m


def _overdue(facts: Any | None, clock: str, unit_id: str | None, due: date) -> bool:
    """Whether tracking announced this very clock overdue (same unit, same last day)."""
    if facts is None or getattr(facts, f"{clock}_overdue_due") != due:
        return False
    unit = getattr(facts, f"{clock}_overdue_unit")
    return unit is None or unit == unit_id


def backlog_from(case: Any, backlog_days: int) -> date | None:
    """The day an open case becomes a backlog case by age (for the daily sweep); None once
    concluded, or for a repeat petition."""
    if case.repeat_of is not None or case.concluded_at is not None:
        return None
    received = cst_day(case.received_at or case.registered_at)
    return received + timedelta(days=backlog_days + 1)


def merge(
    old: Contribution | None, new: Contribution | None
) -> dict[tuple[str, str, date, str], dict[str, int]]:
    """The change to the rollups when a case's contribution goes from ``old`` to ``new``:
    per cell, the counters that move (never a zero)."""
    out: dict[tuple[str, str, date, str], dict[str, int]] = {}
    for sign, c in ((-1, old), (1, new)):
        if c is None:
            continue
        for cell, measures in c.cells().items():
            delta = out.setdefault(cell, {})
            for name, value in measures.items():
                delta[name] = delta.get(name, 0) + sign * value
    changed = {}
    for cell, delta in out.items():
        delta = {k: v for k, v in delta.items() if v}
        if delta:
            changed[cell] = delta
    return changed


def _rate(numerator: int, denominator: int, digits: int = 4) -> float | None:
    return None if not denominator else round(numerator / denominator, digits)


def figures(sums: Mapping[str, int]) -> dict[str, Any]:
    """A scorecard's figures from the summed counters (a rate is None without a denominator)."""
    s = {m: int(sums.get(m) or 0) for m in MEASURES}
    return {
        "cases_received": s["received"],
        "rating_rate": _rate(s["rated"], s["rated"] + s["not_rated"]),
        "satisfaction_rate": _rate(s["satisfied"] + s["basically_satisfied"], s["rated"]),
        "on_time_acceptance_rate": _rate(s["accepted_on_time"], s["acceptance_judged"]),
        "on_time_reply_rate": _rate(s["replied_on_time"], s["reply_judged"]),
        "average_handling_days": _rate(s["handling_days"], s["replied"], 2),
        "extension_rate": _rate(s["extended"], s["accepted"]),
        "repeat_petition_rate": _rate(s["repeated"], s["received"]),
        "backlog_cases": s["backlog"],
        "backlog_resolution_rate": _rate(s["backlog_resolved"], s["backlog"]),
        "supervisions": s["supervisions"],
        "themed_petitions": s["themed"],
        # problems grid workers found before anyone petitioned, and how many were dealt with
        "proactive_cases": s["proactive"],
        "proactive_resolution_rate": _rate(s["proactive_replied"], s["proactive"]),
        "counts": s,
    }
