"""The pure rules of satisfaction ratings (PROCEDURE §8): who may rate, the windows, the
24-hour change."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from evaluation import ratings as rules
from shared.calendar import WorkCalendar
from shared.vocabulary import CST

ACCEPTED = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)  # Monday 3 March, 10:00 in Beijing
CAL = WorkCalendar()  # the package's official days


def case(**over: Any) -> SimpleNamespace:
    facts: dict[str, Any] = {
        "kind": "grievance",
        "status": "in_progress",
        "category": "wage_arrears",
        "anonymous": False,
        "identity_unclear": False,
        "proactive": False,
        "repeat_of": None,
        "accepted_at": ACCEPTED,
        "replied_at": None,
    }
    facts.update(over)
    return SimpleNamespace(**facts)


@pytest.mark.parametrize(
    ("over", "reason"),
    [
        ({"kind": "accusation"}, "accusation"),
        ({"kind": "accusation", "anonymous": True}, "accusation"),
        ({"status": "diverted"}, "diverted"),
        ({"category": "litigation", "status": "received"}, "diverted"),
        ({"kind": "suggestion"}, "not_a_grievance"),
        ({"kind": "suggestion", "anonymous": True}, "not_a_grievance"),
        ({"identity_unclear": True}, "identity_unclear"),
        ({"proactive": True}, "proactive"),
        ({"repeat_of": "8d3c0f0e-0000-4000-8000-000000000001"}, "repeat_petition"),
        ({"status": "linked_duplicate"}, "repeat_petition"),
        ({"status": "not_reaccepted"}, "repeat_petition"),
    ],
)
def test_cases_that_are_never_rated_say_why(over: dict[str, Any], reason: str) -> None:
    refusal = rules.ineligible(case(**over))
    assert refusal is not None and refusal.reason == reason and refusal.detail
    result = rules.check(case(**over), "acceptance", None, ACCEPTED, 24)
    assert isinstance(result, rules.Refusal) and result.reason == reason


def test_a_first_time_grievance_with_a_clear_identity_is_rated() -> None:
    assert rules.ineligible(case()) is None
    assert rules.ineligible(case(status="withdrawn")) is None  # ratings run beside the states


def test_the_moments_come_with_the_acceptance_notice_and_the_reply() -> None:
    c = case()
    assert rules.reached_at(c, "acceptance") == ACCEPTED
    assert rules.reached_at(c, "reply") is None
    refusal = rules.check(c, "reply", None, ACCEPTED, 24)
    assert isinstance(refusal, rules.Refusal) and refusal.reason == "moment_not_reached"
    assert "written reply" in refusal.detail


def test_the_window_is_counted_as_the_regulation_counts() -> None:
    # 3 March + 30 days = Wed 2 April (a working day)
    assert rules.window_closes(CAL, ACCEPTED, 30) == date(2025, 4, 2)
    # Sat 8 March + 7 days = Sat 15 March, a rest day: the window runs to Monday 17 March
    assert rules.window_closes(CAL, datetime(2025, 3, 8, tzinfo=CST), 7) == date(2025, 3, 17)
    # read in China time: 23:30 UTC is already the next day in Beijing
    late = datetime(2025, 3, 2, 23, 30, tzinfo=UTC)
    assert rules.window_closes(CAL, late, 30) == date(2025, 4, 2)


def test_a_window_is_open_through_its_last_day_then_not_rated() -> None:
    slot = rules.Slot("open", date(2025, 4, 2))
    assert rules.state_of(slot, date(2025, 4, 2)) == "open"
    assert rules.state_of(slot, date(2025, 4, 3)) == "not_rated"
    assert rules.state_of(None, date(2025, 4, 3)) == "not_reached"
    last_day = datetime(2025, 4, 2, 15, 59, tzinfo=UTC)  # 23:59 in Beijing
    assert rules.check(case(), "acceptance", slot, last_day, 24) == "rate"
    after = last_day + timedelta(minutes=2)
    refusal = rules.check(case(), "acceptance", slot, after, 24)
    assert isinstance(refusal, rules.Refusal) and refusal.reason == "window_closed"
    assert "2025-04-02" in refusal.detail
    stored = rules.Slot("not_rated", date(2025, 4, 2))
    refusal = rules.check(case(), "acceptance", stored, last_day, 24)
    assert isinstance(refusal, rules.Refusal) and refusal.reason == "window_closed"


def test_a_rating_may_change_within_24_hours_of_the_first_rating() -> None:
    rated_at = datetime(2025, 3, 5, 1, 0, tzinfo=UTC)
    slot = rules.Slot("rated", date(2025, 4, 2), rated_at)
    assert rules.check(case(), "acceptance", slot, rated_at + timedelta(hours=23), 24) == "change"
    assert rules.check(case(), "acceptance", slot, rated_at + timedelta(hours=24), 24) == "change"
    late = rules.check(case(), "acceptance", slot, rated_at + timedelta(hours=25), 24)
    assert isinstance(late, rules.Refusal) and late.reason == "change_period_over"
    assert "24 hours" in late.detail
    assert rules.check(case(), "acceptance", slot, rated_at + timedelta(hours=25), 48) == "change"
    assert rules.changeable_until(rated_at, 24) == rated_at + timedelta(days=1)


def test_no_change_after_the_window_even_within_24_hours() -> None:
    rated_at = datetime(2025, 4, 2, 15, 0, tzinfo=UTC)  # 23:00 on the last day, in Beijing
    slot = rules.Slot("rated", date(2025, 4, 2), rated_at)
    refusal = rules.check(case(), "acceptance", slot, rated_at + timedelta(hours=2), 24)
    assert isinstance(refusal, rules.Refusal) and refusal.reason == "window_closed"


def test_eligibility_comes_before_the_moment_and_the_window() -> None:
    slot = rules.Slot("open", date(2025, 4, 2))
    refusal = rules.check(case(identity_unclear=True), "acceptance", slot, ACCEPTED, 24)
    assert isinstance(refusal, rules.Refusal) and refusal.reason == "identity_unclear"


def test_the_scale_has_three_levels_and_no_default() -> None:
    assert rules.SCALE == ("satisfied", "basically_satisfied", "dissatisfied")
    assert rules.MOMENTS == ("acceptance", "reply")
