"""Open311 GeoReport v2 at /open311/v2 through the shared suite: an Open311 client submits a
petition, follows the token to its request id, reads it back open and then closed, as JSON
and as XML; the spec's errors; and an independent Open311 client library (georeport) reading
the service list and definitions, and refused the petitions without a key."""

from __future__ import annotations

import uuid
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
import requests
from georeport import GeoReport

from services.gateway.settings import DEV_OPEN311_API_KEY
from services.launcher import Suite
from tests.e2e.conftest import petition, token, wait_for

pytestmark = pytest.mark.e2e

BASE = "/open311/v2"
KEY = DEV_OPEN311_API_KEY  # the development suite's client "dev"
ADDRESS = "北京市石景山区鲁谷街道石景山路22号"  # where the matter is (not a secret)
HOME = "北京市石景山区古城大街9号"  # the petitioner's address: never shown back


def form(**over: str) -> dict[str, str]:
    """A complete Open311 request for an online grievance; each call a different matter."""
    body = {
        "api_key": KEY,
        "service_code": "wage_arrears",
        "description": "某建筑公司拖欠农民工工资三个月，多次讨要无果。合同编号" + uuid.uuid4().hex,
        "address_string": ADDRESS,
        "lat": "39.9063",
        "long": "116.2336",
        "first_name": "三",
        "last_name": "张",
        "phone": "13812345678",
        "email": "zhang@example.cn",
        "attribute[petitioner_address]": HOME,
    }
    body.update(over)
    return {k: v for k, v in body.items() if v}


def submitted(api: httpx.Client, fields: dict[str, str]) -> str:
    r = api.post(f"{BASE}/requests.json", data=fields)
    assert r.status_code == 201, r.text
    [answer] = r.json()
    assert set(answer) == {"token", "service_notice"}  # a batch service: no id yet
    return answer["token"]


def request_id(api: httpx.Client, tok: str) -> str:
    def ready() -> str | None:
        r = api.get(f"{BASE}/tokens/{tok}.json")
        assert r.status_code == 200, r.text
        return r.json()[0]["service_request_id"]

    return wait_for(ready)


def read(api: httpx.Client, sid: str, fmt: str = "json") -> httpx.Response:
    return api.get(f"{BASE}/requests/{sid}.{fmt}", params={"api_key": KEY})


def with_status(api: httpx.Client, sid: str, prefix: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        r = read(api, sid)
        assert r.status_code == 200, r.text
        found = r.json()[0]
        return found if found["status_notes"].startswith(prefix) else None

    return wait_for(check)


def listed(api: httpx.Client, **params: str) -> list[str]:
    r = api.get(f"{BASE}/requests.json", params={"api_key": KEY, **params})
    assert r.status_code == 200, r.text
    return [x["service_request_id"] for x in r.json()]


def errors(r: httpx.Response, status: int) -> list[str]:
    assert r.status_code == status, r.text
    body = r.json()
    assert [e["code"] for e in body] == [status] * len(body)
    return [e["description"] for e in body]


def test_submit_follow_the_token_and_read_back_open_then_closed(api: httpx.Client) -> None:
    sid = request_id(api, submitted(api, form()))
    found = with_status(api, sid, "routed")
    unit = api.get("/api/v1/units/110107:hrss").json()["name"]
    assert found["service_request_id"] == sid
    assert found["status"] == "open"
    assert found["service_code"] == "wage_arrears" and found["service_name"] == "拖欠工资"
    assert found["agency_responsible"] == unit  # 石景山区人力资源和社会保障局
    assert found["address"] == "北京市石景山区鲁谷街道"  # placed to the township by the address
    assert found["description"].startswith("某建筑公司拖欠农民工工资三个月")
    assert found["requested_datetime"].endswith("+08:00")
    assert found["expected_datetime"].endswith("T23:59:59+08:00")  # the acceptance deadline
    text = read(api, sid).text
    for personal in ("张三", "13812345678", HOME, "zhang@example.cn"):
        assert personal not in text

    x = read(api, sid, "xml")
    assert x.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(x.content)
    assert root.tag == "service_requests"
    assert root.findtext("request/service_request_id") == sid
    assert root.findtext("request/status") == "open"
    assert root.findtext("request/agency_responsible") == unit

    assert sid in listed(api) and sid in listed(api, status="open")
    assert listed(api, service_request_id=f"{sid},110107-261128-99999-0") == [sid]

    refused = api.post(
        f"/api/v1/cases/{sid}/not-accept",
        json={"reason": "该事项已进入劳动仲裁程序，请通过仲裁途径解决"},
        headers=token("unit", "clerk", unit_id="110107:hrss"),
    )
    assert refused.status_code < 300, refused.text
    closed = with_status(api, sid, "not_accepted")
    assert closed["status"] == "closed"
    assert sid in listed(api, status="closed") and sid not in listed(api, status="open")
    assert sid not in listed(api, service_code="pollution")


def test_a_retried_post_is_the_same_petition(api: httpx.Client) -> None:
    fields = form()
    assert submitted(api, fields) == submitted(api, fields)


def test_an_anonymous_suggestion_needs_no_identity(api: httpx.Client) -> None:
    fields = form(
        service_code="policy",
        description="建议在鲁谷街道增设公共自行车停放点，方便居民出行。编号" + uuid.uuid4().hex,
        first_name="",
        last_name="",
        phone="",
        **{"attribute[petitioner_address]": "", "attribute[anonymous]": "true"},
    )
    found = with_status(api, request_id(api, submitted(api, fields)), "")
    assert found["service_code"] == "policy" and found["status"] == "open"


def test_petitions_of_other_channels_are_not_shown(api: httpx.Client) -> None:
    own = token("petitioner", f"o311-{uuid.uuid4().hex[:8]}")
    r = api.post("/api/v1/petitions", json=petition(), headers=own)
    assert r.status_code == 201, r.text
    number = r.json()["tracking_number"]
    wait_for(lambda: api.get(f"/api/v1/cases/{number}", headers=own).json()["status"] == "routed")
    errors(read(api, number), 404)
    assert number not in listed(api)


def test_the_spec_errors(api: httpx.Client) -> None:
    post = f"{BASE}/requests.json"
    [bad_key] = errors(api.post(post, data=form(api_key="wrong")), 403)
    assert bad_key.startswith("Invalid api_key")
    [no_key] = errors(api.post(post, data=form(api_key="")), 403)
    assert no_key.startswith("Missing api_key")
    x = api.post(f"{BASE}/requests.xml", data=form(api_key="wrong"))
    assert x.status_code == 403
    root = ET.fromstring(x.content)
    assert root.tag == "errors" and root.findtext("error/code") == "403"

    [unknown] = errors(api.post(post, data=form(service_code="potholes")), 404)
    assert "potholes" in unknown
    [nowhere] = errors(api.post(post, data=form(address_string="", lat="", long="")), 400)
    assert "address_string" in nowhere
    [point] = errors(api.post(post, data=form(address_string="")), 400)
    assert "point alone cannot be placed" in point
    [ambiguous] = errors(api.post(post, data=form(address_string="朝阳区建国路1号")), 400)
    assert ambiguous.startswith("address_string:") and "长春市朝阳区" in ambiguous
    [home] = errors(api.post(post, data=form(**{"attribute[petitioner_address]": ""})), 400)
    assert "attribute[petitioner_address]" in home
    [phone] = errors(api.post(post, data=form(phone="12345")), 400)
    assert phone.startswith("phone:")

    errors(api.get(f"{BASE}/requests.json"), 403)
    errors(api.get(f"{BASE}/requests/110107261128000124.json", params={"api_key": "x"}), 403)
    errors(api.get(f"{BASE}/tokens/dev.110107261128000124.forged.json"), 404)
    errors(api.get(f"{BASE}/services/potholes.json"), 404)


def test_an_independent_open311_client_reads_services_and_is_refused_petitions(
    suite: Suite,
) -> None:
    for fmt in ("json", "xml"):
        client = GeoReport(suite.url("gateway") + BASE, output_format=fmt)
        services = client.get_service_list()
        codes = {s["service_code"]: s for s in services}
        assert len(codes) == 24 and codes["pollution"]["group"] == "生态环境"
        assert str(codes["wage_arrears"]["type"]) == "batch"
        definition = client.get_service_definition("wage_arrears")
        attributes = definition["attributes"]
        if fmt == "xml":  # xmltodict: <attributes><attribute>...</attribute></attributes>
            attributes = attributes["attribute"]
        required = {a["code"]: str(a["required"]).lower() for a in attributes}
        assert required["petitioner_address"] == "true"
        with pytest.raises(requests.HTTPError) as refused:  # petitions are not public
            client.get_service_requests()
        assert refused.value.response.status_code == 403
