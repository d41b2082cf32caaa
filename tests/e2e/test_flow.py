"""The first flow through the gateway: submit, route, follow."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from services.launcher import Suite
from shared.calendar import default_calendar
from shared.vocabulary import CST
from tests.e2e.conftest import petition, read_events, token, wait_for

pytestmark = pytest.mark.e2e

OWNER = token("petitioner", "flow-user-1")
NATIONAL = token("operator", "flow-analyst")


def routed_case(api: httpx.Client, number: str, headers: dict[str, str]) -> dict:  # type: ignore[type-arg]
    def check():  # type: ignore[no-untyped-def]
        r = api.get(f"/api/v1/cases/{number}", headers=headers)
        return r.json() if r.status_code == 200 and r.json()["status"] == "routed" else None

    return wait_for(check)


def test_submitted_petition_is_routed_with_unit_deadline_and_timeline(api: httpx.Client) -> None:
    r = api.post("/api/v1/petitions", json=petition(), headers=OWNER)
    assert r.status_code == 201, r.text
    created = r.json()
    assert set(created) >= {"petition_id", "tracking_number", "query_code", "status"}
    assert created["status"] == "received"
    number = created["tracking_number"]
    assert len(number) == 18 and number.startswith("110107")
    assert (
        created["tracking_number_display"]
        == f"{number[:6]}-{number[6:12]}-{number[12:17]}-{number[17]}"
    )

    case = routed_case(api, number, OWNER)
    assert case["unit"]["id"] == "110107:hrss"
    routed_day = datetime.now(UTC).astimezone(CST).date()
    # 15 days after the day the unit received it, moved off a weekend or holiday to the next
    # working day (the calendar's own table tests pin the dates)
    calendar = default_calendar()
    assert case["deadlines"]["acceptance"]["due"] in {
        calendar.calendar_days_after(routed_day, 15).date.isoformat(),
        calendar.calendar_days_after(routed_day - timedelta(days=1), 15).date.isoformat(),
    }  # the second: routed just before midnight CST
    due = date.fromisoformat(case["deadlines"]["acceptance"]["due"])
    assert calendar.is_workday(due) and due >= routed_day + timedelta(days=14)
    assert [e["status"] for e in case["timeline"]] == ["received", "routed"]
    assert all("actor" not in e for e in case["timeline"])  # petitioners see public entries
    assert case["petitioner_name"] == "张*"


def test_case_view_never_404s_right_after_submission(api: httpx.Client) -> None:
    number = api.post("/api/v1/petitions", json=petition(), headers=OWNER).json()["tracking_number"]
    r = api.get(f"/api/v1/cases/{number}", headers=OWNER)
    assert r.status_code == 200
    assert r.json()["status"] in ("received", "routed")


def test_query_code_opens_the_case_and_a_wrong_code_reveals_nothing(api: httpx.Client) -> None:
    created = api.post("/api/v1/petitions", json=petition(), headers=OWNER).json()
    number, code = created["tracking_number"], created["query_code"]
    routed_case(api, number, OWNER)
    ok = api.get(f"/api/v1/cases/{number}", params={"query_code": code.lower()})
    assert ok.status_code == 200 and ok.json()["status"] == "routed"
    wrong = api.get(f"/api/v1/cases/{number}", params={"query_code": "ABCDEFGH"})
    unknown = api.get("/api/v1/cases/110107261128999990", params={"query_code": code})
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json()["detail"] == unknown.json()["detail"]


def test_only_owner_handling_unit_and_operator_see_a_case(api: httpx.Client) -> None:
    number = api.post("/api/v1/petitions", json=petition(), headers=OWNER).json()["tracking_number"]
    routed_case(api, number, OWNER)
    url = f"/api/v1/cases/{number}"
    unit = api.get(url, headers=token("unit", "clerk", unit_id="110107:hrss"))
    assert unit.status_code == 200
    assert any(not e["public"] for e in unit.json()["timeline"])  # the routing explanation
    assert api.get(url, headers=token("operator", "op")).status_code == 200
    assert api.get(url, headers=token("petitioner", "someone-else")).status_code == 404
    assert (
        api.get(url, headers=token("unit", "c2", unit_id="110108:petition_bureau")).status_code
        == 404
    )
    anonymous = api.get(url)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    inbox = api.get(
        "/api/v1/units/110107:hrss/cases",
        headers=token("unit", "clerk", unit_id="110107:hrss"),
    )
    assert inbox.status_code == 200 and inbox.json()["items"]
    mine = api.get("/api/v1/me/cases", headers=OWNER).json()["items"]
    assert number in {c["tracking_number"] for c in mine}


def test_creating_needs_a_token(api: httpx.Client) -> None:
    r = api.post("/api/v1/petitions", json=petition())
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")


def test_bad_input_is_a_problem_naming_the_field(api: httpx.Client) -> None:
    body = petition()
    body["petitioner"] = {"name": "张三", "address": "北京市"}
    r = api.post("/api/v1/petitions", json=body, headers=OWNER)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["errors"][0]["field"] == "petitioner.phone"
    assert "phone" in problem["detail"]
    r = api.post(
        "/api/v1/petitions", json={**petition(), "location": {"region_code": "12"}}, headers=OWNER
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "location.region_code"


def test_idempotency_key_returns_the_original_answer(api: httpx.Client) -> None:
    headers = {**OWNER, "Idempotency-Key": "flow-key-1"}
    body = petition()
    first = api.post("/api/v1/petitions", json=body, headers=headers)
    again = api.post("/api/v1/petitions", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    other = api.post("/api/v1/petitions", json=petition(title="另一件事情"), headers=headers)
    assert other.status_code == 422
    assert other.json()["errors"][0]["field"] == "Idempotency-Key"


def test_status_reports_every_process_broker_and_database(api: httpx.Client, suite: Suite) -> None:
    r = api.get("/status")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["broker"]["status"] == "up"
    for name in ("intake", "routing", "tracking", "evaluation"):
        assert body["services"][name]["status"] == "up"
        assert body["services"][name]["database"] == "up"
    for name in ("intake", "routing", "tracking", "evaluation", "gateway"):
        assert httpx.get(f"{suite.url(name)}/healthz").status_code == 200
        metrics = httpx.get(f"{suite.url(name)}/metrics")
        assert "xinfang_http_requests_total" in metrics.text


def test_evaluation_keeps_its_own_read_model(api: httpx.Client) -> None:
    number = api.post("/api/v1/petitions", json=petition(region="110109"), headers=OWNER).json()[
        "tracking_number"
    ]
    routed_case(api, number, OWNER)
    op = token("operator", "analyst", region_code="110109")

    def routed_count() -> int:
        r = api.get("/api/v1/analytics/overview", headers=op)
        assert r.status_code == 200
        return r.json()["by_status"].get("routed", 0)

    assert wait_for(routed_count) >= 1
    # a prefecture's overview counts the cases of the counties inside it
    r = api.get("/api/v1/analytics/overview", params={"region_code": "110100"}, headers=NATIONAL)
    assert r.status_code == 200 and r.json()["by_status"].get("routed", 0) >= 1, r.text


def test_request_id_flows_into_logs_and_becomes_the_events_correlation_id(
    api: httpx.Client, suite: Suite
) -> None:
    rid = "flow-request-7f3a"
    created = api.post("/api/v1/petitions", json=petition(), headers={**OWNER, "X-Request-ID": rid})
    assert created.headers["X-Request-ID"] == rid
    routed_case(api, created.json()["tracking_number"], OWNER)
    lines = [
        json.loads(line)
        for line in (suite.var_dir / "logs" / "intake.log").read_text().splitlines()
        if line.startswith("{")
    ]
    assert any(
        entry.get("request_id") == rid and entry.get("route") == "/api/v1/petitions"
        for entry in lines
    )
    settings = suite.settings()
    events = [
        json.loads(e)
        for e in asyncio.run(
            read_events(
                settings.kafka_bootstrap_servers,
                [settings.topic("intake"), settings.topic("routing")],
            )
        )
    ]
    ours = {e["type"]: e for e in events if e["subject"] == created.json()["petition_id"]}
    submitted, routed = ours["intake.petition.submitted.v1"], ours["routing.case.routed.v1"]
    assert submitted["correlationid"] == routed["correlationid"] == rid
    assert routed["causationid"] == submitted["id"]
