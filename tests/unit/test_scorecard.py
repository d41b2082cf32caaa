"""The scorecard rules as pure code: which regions a case counts in, what one case adds, the
difference applied when it changes, the figures, the warning statistic, the periods."""

from __future__ import annotations

from datetime import date, datetime, time
from types import SimpleNamespace
from typing import Any

import pytest

from evaluation.early_warning import baseline
from evaluation.queries import bucket, bucket_bounds, rising
from evaluation.scorecard import (
    Contribution,
    backlog_from,
    contribution,
    figures,
    merge,
    region_keys,
    region_level,
)
from shared.vocabulary import CST


def at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), CST)


def case(**over: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "status": "in_progress",
        "category": "wage_arrears",
        "region_code": "110107011",
        "unit_id": "110107:hrss",
        "received_at": at(date(2025, 3, 3), 7),  # 23:00 UTC the day before: China time counts
        "registered_at": at(date(2025, 3, 3), 9),
        "repeat_of": None,
        "acceptance_due": date(2025, 3, 18),
        "accepted_at": None,
        "reply_due": None,
        "extension_days": None,
        "replied_at": None,
        "concluded_at": None,
        "supervision_count": 0,
        "theme": None,
        "proactive": False,
    }
    return SimpleNamespace(**(values | over))


def facts(**over: Any) -> SimpleNamespace:
    values = dict.fromkeys(
        (
            "acceptance_overdue_unit",
            "acceptance_overdue_due",
            "handling_overdue_unit",
            "handling_overdue_due",
            "acceptance_rating",
            "reply_rating",
        )
    )
    return SimpleNamespace(**(values | over))


TODAY = date(2025, 4, 1)


def measures(c: SimpleNamespace, f: SimpleNamespace | None = None, **kw: Any) -> dict[str, int]:
    kw = {"repeated": False, "today": TODAY, "backlog_days": 90} | kw
    return contribution(c, f, **kw).measures


def test_a_case_counts_in_its_county_prefecture_province_and_the_country() -> None:
    assert region_keys("110107011") == ("110107", "110000", "000000")  # Beijing: no prefecture
    assert region_keys("130102") == ("130102", "130100", "130000", "000000")
    assert region_keys("441900003") == ("441900", "440000", "000000")  # 东莞: no county
    assert region_keys("429004") == ("429004", "420000", "000000")  # 仙桃: under the province
    assert [region_level(k) for k in region_keys("130102")] == [
        "county",
        "prefecture",
        "province",
        "national",
    ]


def test_what_a_case_adds() -> None:
    c = contribution(case(), None, repeated=False, today=TODAY, backlog_days=90)
    assert (c.day, c.category, c.unit_id) == (date(2025, 3, 3), "wage_arrears", "110107:hrss")
    assert c.measures == {"petitions": 1, "received": 1}  # nothing decided yet
    accepted = case(accepted_at=at(date(2025, 3, 19)), reply_due=date(2025, 5, 19))
    assert measures(accepted) == {
        "petitions": 1,
        "received": 1,
        "accepted": 1,
        "acceptance_judged": 1,  # accepted the day after its deadline
    }
    replied = case(
        accepted_at=at(date(2025, 3, 5)),
        reply_due=date(2025, 5, 4),
        replied_at=at(date(2025, 3, 25), 23),  # 23:00 China time: still 25 March
        extension_days=10,
        supervision_count=2,
    )
    assert measures(replied, facts(reply_rating="basically_satisfied")) == {
        "petitions": 1,
        "received": 1,
        "accepted": 1,
        "acceptance_judged": 1,
        "accepted_on_time": 1,
        "replied": 1,
        "reply_judged": 1,
        "replied_on_time": 1,
        "handling_days": 20,
        "extended": 1,
        "supervisions": 2,
        "rated": 1,
        "basically_satisfied": 1,
    }


def test_a_repeat_petition_is_a_petition_not_a_case() -> None:
    assert measures(case(repeat_of="x", unit_id=None, status="linked_duplicate")) == {
        "petitions": 1
    }
    assert measures(case(), repeated=True) == {
        "petitions": 1,
        "received": 1,
        "repeated": 1,
        "backlog": 1,
    }


def test_acceptance_judged_by_the_decision_or_the_overdue_clock_of_this_unit() -> None:
    refused = case(status="not_accepted", concluded_at=at(date(2025, 3, 10)))
    assert measures(refused)["accepted_on_time"] == 1
    overdue = facts(acceptance_overdue_unit="110107:hrss", acceptance_overdue_due=date(2025, 3, 18))
    assert measures(case(), overdue)["acceptance_judged"] == 1
    # the clock of the unit that had the case before does not count against this one
    moved = facts(
        acceptance_overdue_unit="110107:housing", acceptance_overdue_due=date(2025, 3, 18)
    )
    assert "acceptance_judged" not in measures(case(), moved)
    assert "acceptance_judged" not in measures(case(acceptance_due=None), overdue)  # waived


def test_backlog_by_age_and_its_resolution() -> None:
    assert "backlog" not in measures(case(), today=date(2025, 6, 1))  # 90 days: not more
    assert measures(case(), today=date(2025, 6, 2))["backlog"] == 1
    late = case(status="closed", concluded_at=at(date(2025, 6, 2)))
    assert measures(late, today=date(2025, 9, 1))["backlog_resolved"] == 1
    early = case(status="closed", concluded_at=at(date(2025, 6, 1)))
    assert "backlog" not in measures(early, today=date(2025, 9, 1))
    assert backlog_from(case(), 90) == date(2025, 6, 2)
    assert backlog_from(early, 90) is None


def test_ratings_count_each_moment_once_and_not_rated_apart() -> None:
    m = measures(case(), facts(acceptance_rating="dissatisfied", reply_rating="not_rated"))
    assert (m["rated"], m["dissatisfied"], m["not_rated"]) == (1, 1, 1)


def test_the_change_applied_is_the_difference() -> None:
    old = Contribution(date(2025, 3, 3), "x", "u1", ("110107", "000000"), {"petitions": 1})
    new = Contribution(
        date(2025, 3, 3), "x", "u2", ("110107", "000000"), {"petitions": 1, "accepted": 1}
    )
    assert merge(old, new) == {
        ("unit", "u1", date(2025, 3, 3), "x"): {"petitions": -1},
        ("unit", "u2", date(2025, 3, 3), "x"): {"petitions": 1, "accepted": 1},
        ("region", "110107", date(2025, 3, 3), "x"): {"accepted": 1},
        ("region", "000000", date(2025, 3, 3), "x"): {"accepted": 1},
    }
    assert merge(new, new) == {}
    assert Contribution.load(new.dump()) == new


def test_figures_and_rates_without_a_denominator() -> None:
    f = figures({"received": 4, "repeated": 1, "rated": 3, "not_rated": 1, "satisfied": 2})
    assert (f["repeat_petition_rate"], f["rating_rate"], f["satisfaction_rate"]) == (
        0.25,
        0.75,
        0.6667,
    )
    assert f["average_handling_days"] is None and f["on_time_reply_rate"] is None


def test_the_warning_statistic() -> None:
    b = baseline(5, [1, 0, 1, 0], min_sd=1.0)
    assert (b.mean, b.sd, b.z) == (0.5, 0.5, 4.5)  # sd floored at 1
    assert baseline(7, [3, 5, 7, 5], min_sd=1.0).z == pytest.approx(2 / 2**0.5)


def test_periods_and_rising_categories() -> None:
    assert bucket(date(2025, 3, 5), "week") == "2025-03-03"
    assert bucket(date(2025, 3, 5), "month") == "2025-03"
    assert bucket_bounds("2024-02", "month") == (date(2024, 2, 1), date(2024, 2, 29))
    assert rising({"a": 5, "b": 3, "c": 2}, {"a": 4, "c": 3}, 5) == [
        {"category": "b", "petitions": 3, "previous": 0, "change": 3, "ratio": None},
        {"category": "a", "petitions": 5, "previous": 4, "change": 1, "ratio": 1.25},
    ]


def test_themed_petitions_count_in_petitions_and_apart() -> None:
    themed = measures(case(theme="epidemic-2026"))
    assert themed["petitions"] == themed["received"] == themed["themed"] == 1
    assert "themed" not in measures(case())


def test_a_grid_workers_report_counts_apart_from_petitions() -> None:
    open_report = measures(case(proactive=True))
    assert open_report == {"proactive": 1}
    solved = measures(
        case(
            proactive=True,
            accepted_at=at(date(2025, 3, 4), 9),
            replied_at=at(date(2025, 3, 10), 9),
            concluded_at=at(date(2025, 3, 10), 9),
        )
    )
    assert solved == {"proactive": 1, "proactive_replied": 1, "proactive_concluded": 1}
    sums = {"received": 4, "proactive": 4, "proactive_replied": 1}
    card = figures(sums)
    assert (card["cases_received"], card["proactive_cases"]) == (4, 4)
    assert card["proactive_resolution_rate"] == 0.25
