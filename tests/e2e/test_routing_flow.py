"""Petitions from several provinces, with only a free-text address, end at the units the
Regulation names, through the gateway; an accusation never reaches the accused."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import petition, token, wait_for

pytestmark = pytest.mark.e2e

OPERATOR = token("operator", "routing-op")

CASES = [
    # address, category, kind, accused unit, expected status, expected lead unit
    (
        "辽宁省沈阳市浑南区创新路100号附近的化工厂",
        "pollution",
        "grievance",
        None,
        "routed",
        "210112:ecology",
    ),
    (
        "广东省广州市天河区体育西路某小区",
        "property_management",
        "grievance",
        None,
        "routed",
        "440106:housing",
    ),
    (
        "北京市石景山区鲁谷街道某路口",
        "urban_order",
        "grievance",
        None,
        "routed",
        "110107011:township",
    ),
    ("湖南省长沙市岳麓区麓山南路", "other", "grievance", None, "triage", "430104:petition_bureau"),
    ("北京市石景山区", "misconduct", "accusation", "110107:housing", "routed", "110107:discipline"),
]


def settled(api: httpx.Client, number: str, headers: dict[str, str]) -> dict[str, Any]:
    def check():  # type: ignore[no-untyped-def]
        r = api.get(f"/api/v1/cases/{number}", headers=headers)
        return r.json() if r.status_code == 200 and r.json()["status"] != "received" else None

    return wait_for(check)


@pytest.mark.parametrize(("address", "category", "kind", "accused", "status", "lead"), CASES)
def test_free_text_addresses_reach_the_competent_unit(
    api: httpx.Client,
    address: str,
    category: str,
    kind: str,
    accused: str | None,
    status: str,
    lead: str,
) -> None:
    owner = token("petitioner", f"routing-{lead}")
    body = petition(location={"address": address}, category=category, kind=kind)
    if accused:
        body["accused_unit_id"] = accused
    created = api.post("/api/v1/petitions", json=body, headers=owner)
    assert created.status_code == 201, created.text
    number = created.json()["tracking_number"]
    case = settled(api, number, owner)
    assert (case["status"], case["unit"]["id"]) == (status, lead)

    decision = api.get(f"/api/v1/cases/{number}/routing", headers=OPERATOR)
    assert decision.status_code == 200, decision.text
    explained = decision.json()
    assert explained["lead_unit_id"] == lead and explained["path"]
    if accused:
        assert accused in {x["unit_id"] for x in explained["excluded"]}
        assert accused not in [explained["lead_unit_id"], *explained["co_unit_ids"]]
        seen = api.get(f"/api/v1/cases/{number}", headers=token("unit", "x", unit_id=accused))
        assert seen.status_code == 404  # the accused unit never sees the accusation
    handling = token("unit", "clerk", unit_id=lead)
    assert api.get(f"/api/v1/cases/{number}/routing", headers=handling).status_code == 200
    stranger = token("unit", "clerk", unit_id="110108:hrss")
    assert api.get(f"/api/v1/cases/{number}/routing", headers=stranger).status_code == 404
