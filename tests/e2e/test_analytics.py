"""Scorecards through the gateway: a unit's scorecard and its region's move as the unit's case
is received, accepted and replied (the events flow intake -> tracking -> evaluation), and a
unit sees no other unit's scorecard. The unit (南京市鼓楼区人社局) is one no other
end-to-end test sends cases to, so the counts are this test's own."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.vocabulary import CST
from tests.e2e.conftest import petition, token, wait_for

pytestmark = pytest.mark.e2e

REGION, UNIT = "320106", "320106:hrss"
OPERATOR = token("operator", "analytics-op")
HANDLER = token("unit", "analytics-clerk", unit_id=UNIT)


def around_today() -> dict[str, str]:
    """Yesterday to tomorrow (China time), so the day of receipt is inside whatever the clock."""
    today = datetime.now(UTC).astimezone(CST).date()
    return {
        "from": (today - timedelta(days=1)).isoformat(),
        "to": (today + timedelta(1)).isoformat(),
    }


def counts(api: httpx.Client, headers: dict[str, str], **params: str) -> dict[str, Any]:
    r = api.get("/api/v1/analytics/scorecards", params=around_today() | params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["scorecards"][0]["counts"]


def test_a_units_scorecard_moves_as_its_case_is_accepted_and_replied(api: httpx.Client) -> None:
    before = counts(api, HANDLER)
    region_before = counts(api, OPERATOR, region=REGION)
    owner = token("petitioner", "analytics-owner")
    r = api.post("/api/v1/petitions", json=petition(REGION), headers=owner)
    assert r.status_code == 201, r.text
    number = r.json()["tracking_number"]

    def moved(field: str, by: int = 1, **params: str) -> Any:
        return lambda: (now := counts(api, HANDLER, **params))[field] == before[field] + by and now

    after = wait_for(moved("received"))
    assert after["accepted"] == before["accepted"]
    case = api.get(f"/api/v1/cases/{number}", headers=HANDLER).json()
    assert case["unit"]["id"] == UNIT and case["status"] == "routed"

    accepted = api.post(f"/api/v1/cases/{number}/accept", json={}, headers=HANDLER)
    assert accepted.status_code == 200, accepted.text
    after = wait_for(moved("accepted"))
    assert after["accepted_on_time"] == before["accepted_on_time"] + 1

    text = "经核查，该公司已于本月结清所欠工资，现予答复。"
    replied = api.post(
        f"/api/v1/cases/{number}/reply", json={"outcome": "support", "text": text}, headers=HANDLER
    )
    assert replied.status_code == 200, replied.text
    after = wait_for(moved("replied"))
    assert after["replied_on_time"] == before["replied_on_time"] + 1
    assert after["handling_days"] == before["handling_days"]  # replied the day it was accepted

    region = counts(api, OPERATOR, region=REGION)
    assert (region["received"], region["replied"]) == (
        region_before["received"] + 1,
        region_before["replied"] + 1,
    )
    csv = api.get(
        "/api/v1/analytics/scorecards",
        params=around_today() | {"region": "320100"},
        headers=OPERATOR | {"Accept": "text/csv"},
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert "320100" in csv.text
    other = api.get("/api/v1/analytics/scorecards", params={"unit": "110107:hrss"}, headers=HANDLER)
    assert other.status_code == 403
