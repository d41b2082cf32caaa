"""Any matter at any window (无差别受理), grid workers' proactive reports (源头化解) and themed
channels (专题通道), through the gateway on the shared suite, each to its timeline and the
analytics.

Cases are in 武侯区, Chengdu (510107): only these tests and test_receptions send cases there;
the analytics figures read here (themes, proactive cases) are this module's own."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import petition, token, wait_for

pytestmark = pytest.mark.e2e

COUNTY = "510107"  # 武侯区
TOWNSHIP = "510107004"
OPERATOR = token("operator", "chengdu-op", region_code="510100")
# A clerk of a Beijing unit: any window takes any matter, for any region
CLERK = token("unit", "window-clerk", unit_id="110105:civil_affairs")
RUN = uuid.uuid4().hex[:6]


def view(api: httpx.Client, number: str, who: dict[str, str]) -> dict[str, Any]:
    r = api.get(f"/api/v1/cases/{number}", headers=who)
    assert r.status_code == 200, r.text
    return r.json()


def routed(api: httpx.Client, number: str) -> dict[str, Any]:
    return wait_for(
        lambda: (v := view(api, number, OPERATOR))["status"] == "routed" and v, timeout=60
    )


def analytics(api: httpx.Client, what: str, **params: str) -> Any:
    r = api.get(f"/api/v1/analytics/{what}", params=params, headers=OPERATOR)
    assert r.status_code == 200, r.text
    return r.json()


def problem_fields(r: httpx.Response) -> set[str]:
    assert r.headers["content-type"].startswith("application/problem+json"), r.text
    return {e["field"] for e in r.json().get("errors") or []}


def test_any_window_registers_any_matter_and_shows_where_it_goes(api: httpx.Client) -> None:
    visit = {
        "kind": "grievance",
        "channel": "visit",
        "title": "工地拖欠农民工工资",
        "content": f"我们十二人在武侯区某工地干活，老板拖欠工资四个月不发，编号{RUN}-wage。",
        "petitioner": {"name": "赵六", "phone": "13912345678", "address": "四川省成都市武侯区"},
        "headcount": 12,
        "representatives": [
            {"name": "钱七", "phone": "13912345679"},
            {"name": "孙八", "phone": "13912345670"},
        ],
        "location": {"region_code": COUNTY},
    }
    # A group of twelve must name 1 to 5 representatives (Art. 20)
    alone = {**visit, "representatives": []}
    r = api.post("/api/v1/window/registrations", json=alone, headers=CLERK)
    assert r.status_code == 422 and problem_fields(r) == {"representatives"}
    # Only staff register at a window
    r = api.post("/api/v1/window/registrations", json=visit, headers=token("petitioner", "x"))
    assert r.status_code == 403, r.text

    r = api.post(
        "/api/v1/window/registrations",
        json=visit,
        headers={**CLERK, "Idempotency-Key": f"window-{RUN}"},
    )
    assert r.status_code == 201, r.text
    body = r.json()
    reg = body["registration"]
    assert (reg["category"], reg["category_source"]) == ("wage_arrears", "classifier")
    assert reg["litigation"] is False and reg["region_code"] == COUNTY
    assert body["outcome"] == "routed"
    assert body["competent_unit"]["unit_id"] == f"{COUNTY}:hrss"
    assert any(body["competent_unit"]["name"] in line for line in body["guidance"])
    assert any(reg["query_code"] in line for line in body["guidance"])
    # The case goes where the window said, as usual
    case = routed(api, reg["tracking_number"])
    assert case["unit"]["id"] == f"{COUNTY}:hrss" and case["representatives"] == 2
    assert [e["status"] for e in case["timeline"]][:2] == ["received", "routed"]
    # A retry replays the registration, and routing's answer again
    again = api.post(
        "/api/v1/window/registrations",
        json=visit,
        headers={**CLERK, "Idempotency-Key": f"window-{RUN}"},
    )
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    assert again.json()["registration"]["tracking_number"] == reg["tracking_number"]

    # 诉访分离 at the window: the visitor is told the legal channel at once
    court = {
        **visit,
        "headcount": 1,
        "representatives": [],
        "title": "法院判决不执行",
        "content": f"法院已经判决对方赔偿，判决生效一年仍未执行，申请执行无果。编号{RUN}-court",
    }
    r = api.post("/api/v1/window/registrations", json=court, headers=CLERK)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["registration"]["litigation"] is True and body["outcome"] == "diverted"
    assert "诉访分离" in body["guidance"][0]
    number = body["registration"]["tracking_number"]
    wait_for(lambda: view(api, number, OPERATOR)["status"] == "diverted")


GRID = token("grid_worker", f"grid-{RUN}", region_code=COUNTY)
PHOTO = {
    "name": "井盖.jpg",
    "content_type": "image/jpeg",
    "size": 183204,
    "sha256": "a" * 64,
    "url": "https://files.example.gov.cn/grid/manhole.jpg",
}


def grid_report(**over: Any) -> dict[str, Any]:
    body = {
        "kind": "grievance",
        "channel": "grid",
        "title": "人行道井盖缺失",
        "content": f"巡查发现某路人行道井盖缺失，存在行人跌落隐患，已设置临时围挡。编号{RUN}-grid",
        "location": {"region_code": TOWNSHIP, "address": "某路与某街交叉口东北角"},
        "category": "safety_hazard",
        "attachments": [PHOTO],
    }
    return body | over


def test_a_grid_worker_reports_a_problem_before_anyone_petitions(api: httpx.Client) -> None:
    # Township or village, images only, no petitioner, grid workers only
    r = api.post(
        "/api/v1/petitions", json=grid_report(location={"region_code": COUNTY}), headers=GRID
    )
    assert r.status_code == 422 and problem_fields(r) == {"location.region_code"}
    pdf = {**PHOTO, "content_type": "application/pdf"}
    r = api.post("/api/v1/petitions", json=grid_report(attachments=[pdf]), headers=GRID)
    assert r.status_code == 422 and problem_fields(r) == {"attachments[0].content_type"}
    r = api.post("/api/v1/petitions", json=grid_report(), headers=token("petitioner", f"p-{RUN}"))
    assert r.status_code == 403, r.text
    r = api.post("/api/v1/petitions", json=petition(COUNTY), headers=GRID)
    assert r.status_code == 403, r.text

    r = api.post("/api/v1/petitions", json=grid_report(), headers=GRID)
    assert r.status_code == 201, r.text
    number = r.json()["tracking_number"]
    assert r.json()["proactive"] is True
    case = routed(api, number)
    assert case["proactive"] is True
    unit = token("unit", "grid-handler", unit_id=case["unit"]["id"])
    assert "grid worker" in case["timeline"][0]["note"]
    # The grid worker follows their reports
    mine = api.get("/api/v1/me/cases", headers=GRID)
    assert mine.status_code == 200, mine.text
    assert number in [c["tracking_number"] for c in mine.json()["items"]]
    assert view(api, number, GRID)["proactive"] is True

    # The unit deals with it; nobody is asked to rate it
    for action, body in (
        ("accept", {}),
        ("reply", {"outcome": "support", "text": "已补装井盖并加固，隐患已消除。"}),
    ):
        r = api.post(f"/api/v1/cases/{number}/{action}", json=body, headers=unit)
        assert r.status_code == 200, r.text
    r = api.get(f"/api/v1/cases/{number}/rating", headers=OPERATOR)
    assert r.status_code == 200, r.text
    assert r.json()["moments"]["reply"]["state"] == "ineligible"
    assert r.json()["moments"]["reply"]["reason"] == "proactive"

    # Counted apart: in the proactive figures, not among the petitions
    def counted() -> Any:
        s = analytics(api, "situation", region=COUNTY)
        return s if s["proactive"]["replied"] >= 1 else None

    situation = wait_for(counted)
    assert situation["proactive"]["registered"] >= 1
    card = analytics(api, "scorecards", region=COUNTY)["scorecards"][0]
    assert card["proactive_cases"] == situation["proactive"]["registered"]
    assert card["proactive_resolution_rate"] is not None
    assert card["counts"]["petitions"] == situation["petitions"]


def test_a_themed_channel_jumps_the_queue_and_has_its_own_clock(api: httpx.Client) -> None:
    code = f"flood-{RUN}"
    channel = {
        "code": code,
        "name": "汛期受灾群众救助专题通道",
        "region_code": "510100",
        "default_category": "social_assistance",
        "priority": 5,
        "target_response_hours": 24,
        "fields": [
            {"name": "shelter", "label": "安置点", "type": "string", "required": True},
            {"name": "people", "label": "受灾人数", "type": "integer", "min": 1, "max": 50},
        ],
        "routing_overrides": [{"unit_id": "510100:civil_affairs"}],
    }
    assert (
        api.post(
            "/api/v1/channels", json=channel, headers=token("unit", "u", unit_id="510107:hrss")
        ).status_code
        == 403
    )
    r = api.post("/api/v1/channels", json=channel, headers=OPERATOR)
    assert r.status_code == 201, r.text
    assert r.json()["state"] == "open"
    listed = api.get("/api/v1/channels").json()["channels"]  # public: apps show the forms
    assert code in [c["code"] for c in listed]

    unit = token("unit", "civil-clerk", unit_id="510100:civil_affairs")
    owner = token("petitioner", f"flood-{RUN}")
    # An ordinary petition reaches the unit first
    plain = petition(COUNTY, category="social_assistance")
    r = api.post("/api/v1/petitions", json=plain, headers=owner)
    assert r.status_code == 201, r.text

    body = petition(COUNTY, theme=code, theme_fields={"people": 4})
    body.pop("category")
    r = api.post("/api/v1/petitions", json=body, headers=owner)
    assert r.status_code == 422 and problem_fields(r) == {"theme_fields.shelter"}
    body["theme_fields"] = {"shelter": "武侯区第三小学", "people": 4}
    r = api.post("/api/v1/petitions", json=body, headers=owner)
    assert r.status_code == 201, r.text
    themed = r.json()["tracking_number"]
    case = routed(api, themed)
    # Routed by the channel's override, with the channel's category, priority and clock
    assert case["unit"]["id"] == "510100:civil_affairs" and case["category"] == "social_assistance"
    assert case["theme"]["code"] == code and case["theme"]["priority"] == 5
    assert case["theme"]["response_due_at"] and case["theme"]["response_met"] is None
    inbox = api.get("/api/v1/units/510100:civil_affairs/cases", headers=unit).json()["items"]
    assert inbox[0]["tracking_number"] == themed  # first, though it came second

    r = api.post(f"/api/v1/cases/{themed}/accept", json={}, headers=unit)
    assert r.status_code == 200, r.text
    assert view(api, themed, OPERATOR)["theme"]["response_met"] is True

    # Counted per channel in the analytics
    def counted() -> Any:
        s = analytics(api, "situation", region=COUNTY)
        mine = [t for t in s["themes"] if t["theme"] == code]
        return mine[0] if mine and mine[0]["accepted"] == 1 else None

    assert wait_for(counted)["petitions"] == 1
    card = analytics(api, "scorecards", region=COUNTY)["scorecards"][0]
    assert card["themed_petitions"] >= 1

    # Closed: the channel takes no more petitions
    r = api.post(f"/api/v1/channels/{code}/close", headers=OPERATOR)
    assert r.status_code == 200, r.text
    r = api.post("/api/v1/petitions", json=body, headers=owner)
    assert r.status_code == 422 and problem_fields(r) == {"theme"}
    assert code not in [c["code"] for c in api.get("/api/v1/channels").json()["channels"]]
