"""Intake's decisions travel to tracking and routing: litigation is diverted with its legal
channel, a repeat is linked to the open case, an address is located, and the handling unit
can read the identity it needs, with the read logged."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import petition, token, wait_for

pytestmark = pytest.mark.e2e


def settled(api: httpx.Client, number: str, headers: dict[str, str]) -> dict:  # type: ignore[type-arg]
    def check():  # type: ignore[no-untyped-def]
        r = api.get(f"/api/v1/cases/{number}", headers=headers)
        return r.json() if r.status_code == 200 and r.json()["status"] != "received" else None

    return wait_for(check)


def test_litigation_is_diverted_and_the_petitioner_is_told_the_legal_channel(
    api: httpx.Client,
) -> None:
    owner = token("petitioner", "litigant")
    body = petition(
        title="法院判决生效后对方拒不执行",
        content="2025年6月区人民法院判决被告赔偿我医疗费六万元，判决已经生效，"
        "对方至今拒不履行，请求帮助。",
    )
    del body["category"]
    number = api.post("/api/v1/petitions", json=body, headers=owner).json()["tracking_number"]
    case = settled(api, number, owner)
    assert case["status"] == "diverted"
    assert case["category"] == "litigation"
    assert case["legal_channel"]["code"] == "court_enforcement"
    assert "人民法院" in case["legal_channel"]["name"]
    assert "人民法院" in case["timeline"][-1]["note"]


def test_the_same_matter_again_is_linked_to_the_open_case(api: httpx.Client) -> None:
    owner = token("petitioner", "repeater")
    body = petition(content="村口垃圾中转站常年不清运，蚊蝇成群，臭味熏得全村人无法开窗。")
    first = api.post("/api/v1/petitions", json=body, headers=owner).json()["tracking_number"]
    assert settled(api, first, owner)["status"] == "routed"
    second = api.post("/api/v1/petitions", json=body, headers=owner).json()["tracking_number"]
    case = settled(api, second, owner)
    assert case["status"] == "linked_duplicate"
    assert case["linked_to"] == first
    assert case["unit"] is None and case["deadlines"] == {}  # no new clock


def test_an_address_locates_the_matter_and_an_ambiguous_one_is_refused(
    api: httpx.Client,
) -> None:
    owner = token("petitioner", "locator")
    body = petition(location={"address": "北京市石景山区鲁谷街道鲁谷路1号院"})
    created = api.post("/api/v1/petitions", json=body, headers=owner)
    assert created.status_code == 201, created.text
    case = settled(api, created.json()["tracking_number"], owner)
    assert case["region_code"] == "110107011"
    assert case["unit"]["id"] == "110107:hrss"
    refused = api.post(
        "/api/v1/petitions",
        json=petition(location={"address": "朝阳区幸福小区3号楼"}),
        headers=owner,
    )
    assert refused.status_code == 422
    error = refused.json()["errors"][0]
    assert error["field"] == "location.address"
    assert {"110105", "220104"} <= {c["region_code"][:6] for c in error["candidates"]}


def test_the_handling_unit_reads_the_identity_and_the_read_is_logged(api: httpx.Client) -> None:
    owner = token("petitioner", "vault-e2e")
    number = api.post("/api/v1/petitions", json=petition(), headers=owner).json()["tracking_number"]
    assert settled(api, number, owner)["status"] == "routed"
    clerk = token("unit", "clerk-e2e", unit_id="110107:hrss")
    url = f"/api/v1/petitions/{number}/identity"

    def read() -> httpx.Response | None:  # intake learns the unit from tracking's event
        r = api.get(url, params={"reason": "电话联系信访人告知受理"}, headers=clerk)
        return r if r.status_code == 200 else None

    assert wait_for(read).json()["phone"] == "13812345678"
    other = token("unit", "clerk-x", unit_id="110108:petition_bureau")
    assert api.get(url, params={"reason": "想看看是谁写的"}, headers=other).status_code == 404
    log = api.get(url + "/access-log", headers=token("operator", "auditor")).json()
    assert [(e["actor"], e["unit_id"]) for e in log["entries"]] == [("clerk-e2e", "110107:hrss")]
