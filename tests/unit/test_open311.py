"""Open311 GeoReport v2 (services/gateway/open311): the documents against the spec's examples,
the mapping of a request to a petition and of a case back to a request, tokens, settings, and
the routes against in-memory upstreams (httpx.MockTransport)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from pydantic import ValidationError

from intake.rules import check_submitter, owner_of
from intake.schemas import PetitionCreate
from services.gateway.main import create_app
from services.gateway.open311 import access, catalog, mapping
from services.gateway.open311.formats import Open311Error, to_xml
from services.gateway.settings import DEV_OPEN311_API_KEY, GatewaySettings
from shared.auth import Principal, verify_token
from shared.errors import Forbidden
from shared.settings import CommonSettings
from shared.tracking_number import make
from shared.vocabulary import CATEGORIES

KEY = DEV_OPEN311_API_KEY
TN = make("110107", date(2026, 11, 28), 12)
FORM = [
    ("api_key", KEY),
    ("service_code", "wage_arrears"),
    ("description", "某建筑公司拖欠农民工工资三个月。多次讨要无果"),
    ("address_string", "北京市石景山区鲁谷街道鲁谷路1号"),
    ("lat", "39.9063"),
    ("long", "116.2336"),
    ("first_name", "三"),
    ("last_name", "张"),
    ("phone", "13812345678"),
    ("attribute[petitioner_address]", "北京市石景山区古城大街9号"),
]


def without(*keys: str, **over: str) -> list[tuple[str, str]]:
    return [(k, v) for k, v in FORM if k not in keys and k not in over] + list(over.items())


def failure(call: Callable[[], Any]) -> Open311Error:
    with pytest.raises(Open311Error) as raised:
        call()
    return raised.value


# --- the documents, shaped as the spec's examples ------------------------------------


def test_services_are_the_categories_grouped_by_their_lead_department() -> None:
    listed = catalog.service_list()
    assert [s["service_code"] for s in listed] == list(CATEGORIES)
    by_code = {s["service_code"]: s for s in listed}
    assert by_code["wage_arrears"]["group"] == by_code["social_insurance"]["group"]
    assert by_code["pollution"]["group"] == "生态环境"
    assert {s["type"] for s in listed} == {"batch"}  # answered with a token
    root = ET.fromstring(to_xml("services", listed))
    first = root.find("service")
    assert root.tag == "services" and first is not None
    # the spec's example elements, in XML, booleans as true/false
    assert [c.tag for c in first] == [
        "service_code",
        "service_name",
        "description",
        "metadata",
        "type",
        "keywords",
        "group",
    ]
    assert first.findtext("metadata") == "true"


def test_definitions_ask_what_an_online_petition_needs() -> None:
    grievance = catalog.definition(catalog.SERVICES["wage_arrears"])
    codes = {a["code"]: a for a in grievance["attributes"]}
    assert codes["petitioner_address"]["required"] is True
    assert "anonymous" not in codes  # a grievance cannot be anonymous
    suggestion = catalog.definition(catalog.SERVICES["policy"])
    anonymous = {a["code"]: a for a in suggestion["attributes"]}["anonymous"]
    assert anonymous["datatype"] == "singlevaluelist"
    assert [v["key"] for v in anonymous["values"]] == ["false", "true"]
    assert [a["order"] for a in suggestion["attributes"]] == [1, 2, 3]
    root = ET.fromstring(to_xml("service_definition", suggestion))
    assert root.findtext("service_code") == "policy"
    value = root.find("attributes/attribute/values/value")
    assert value is not None and value.findtext("key") == "false"
    assert root.find("attributes/attribute/datatype_description") is not None  # null: empty


def test_the_error_is_the_spec_example() -> None:
    settings = GatewaySettings()
    error = failure(lambda: access.client_of(settings, "xyz", "create_request"))
    document = [{"code": error.status, "description": d} for d in error.descriptions]
    assert to_xml("errors", document) == (
        b'<?xml version="1.0" encoding="utf-8"?>\n<errors><error><code>403</code>'
        b"<description>Invalid api_key received -- can't proceed with create_request."
        b"</description></error></errors>"
    )


# --- a request becomes a petition -------------------------------------------------------


def test_a_request_becomes_an_online_grievance_intake_accepts() -> None:
    service, body = mapping.petition_from_form(FORM, "cityapp")
    petition = PetitionCreate.model_validate(body)  # intake's own contract
    assert service.code == petition.category == "wage_arrears"
    assert (petition.kind, petition.channel) == ("grievance", "web")
    assert petition.title == "某建筑公司拖欠农民工工资三个月"
    assert petition.petitioner is not None
    assert petition.petitioner.name == "张三"  # family name first
    assert petition.petitioner.address == "北京市石景山区古城大街9号"
    assert petition.location.address == "北京市石景山区鲁谷街道鲁谷路1号"
    # the handling unit learns where, and through which client
    assert "坐标（WGS84）：39.9063, 116.2336" in petition.content
    assert "Open311（cityapp）" in petition.content


def test_western_names_keep_their_order_and_an_anonymous_suggestion_has_no_petitioner() -> None:
    _, body = mapping.petition_from_form(without(first_name="John", last_name="Smith"), "c")
    assert body["petitioner"]["name"] == "John Smith"
    anonymous = without(
        "first_name",
        "last_name",
        "phone",
        "attribute[petitioner_address]",
        service_code="policy",
        **{"attribute[anonymous]": "true"},
    )
    _, body = mapping.petition_from_form(anonymous, "c")
    assert body["kind"] == "suggestion" and body["anonymous"] is True
    assert "petitioner" not in body
    assert PetitionCreate.model_validate(body).anonymous


@pytest.mark.parametrize(
    ("fields", "status", "says"),
    [
        (without("address_string"), 400, "point alone cannot be placed"),
        (without("address_string", "lat", "long"), 400, "send address_string"),
        (without("address_string", "lat", "long", address_id="545483"), 400, "address_id"),
        (without("long"), 400, "lat and long must be sent together"),
        (without(lat="north"), 400, "decimal degrees"),
        (without(lat="95"), 400, "±90"),
        (without("description"), 400, "description is required"),
        (without("attribute[petitioner_address]"), 400, "attribute[petitioner_address]"),
        (without(service_code="potholes"), 404, "potholes"),
        (without("service_code"), 400, "service_code was not provided"),
        (without(**{"attribute[anonymous]": "maybe"}, service_code="policy"), 400, "one of"),
    ],
)
def test_a_request_that_cannot_become_a_petition_says_what_to_fix(
    fields: list[tuple[str, str]], status: int, says: str
) -> None:
    error = failure(lambda: mapping.petition_from_form(fields, "c"))
    assert error.status == status
    assert says in " ".join(error.descriptions)


def test_intake_refusals_name_the_open311_fields() -> None:
    problem = {
        "detail": "location.address: names several regions",
        "errors": [
            {"field": "petitioner.phone", "message": "must be an 11-digit mobile number"},
            {
                "field": "location.address",
                "message": "「朝阳区」 names several regions",
                "candidates": [
                    {"region_code": "110105", "name": "北京市朝阳区 (110105)"},
                    {"region_code": "220104", "name": "吉林省长春市朝阳区 (220104)"},
                ],
            },
        ],
    }
    assert mapping.errors_from_problem(problem) == [
        "phone: must be an 11-digit mobile number",
        "address_string: 「朝阳区」 names several regions; candidates: "
        "北京市朝阳区 (110105), 吉林省长春市朝阳区 (220104)",
    ]


# --- a case becomes a request -------------------------------------------------------------


def view(status: str, **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "tracking_number": TN,
        "status": status,
        "category": "wage_arrears",
        "title": "拖欠工资三个月",
        "region_code": "110107011",
        "petitioner_name": "张*",
        "unit": {"id": "110107:hrss"},
        "received_at": "2026-11-28T08:00:00+00:00",
        "timeline": [
            {"at": "2026-11-28T08:00:00+00:00", "status": "received", "note": "收到"},
            {"at": "2026-11-29T01:30:00+00:00", "status": status, "note": "处理意见：张三…"},
        ],
        "deadlines": {"acceptance": {"due": "2026-12-14", "state": "on_time"}},
    }
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("status", "open311"),
    [
        ("received", "open"),
        ("routed", "open"),
        ("in_progress", "open"),
        ("replied", "open"),  # the petitioner may still ask for a review
        ("closed", "closed"),
        ("terminated", "closed"),
        ("withdrawn", "closed"),
        ("not_accepted", "closed"),
        ("diverted", "closed"),
        ("linked_duplicate", "closed"),
    ],
)
def test_open_or_closed_with_the_richer_status_in_the_notes(status: str, open311: str) -> None:
    found = mapping.request_from_case(view(status), "石景山区住房和城乡建设委员会", None)
    assert found["status"] == open311
    assert found["status_notes"].startswith(f"{status}: ")


def test_a_request_shows_dates_deadline_unit_and_place_but_no_personal_data() -> None:
    found = mapping.request_from_case(
        view("routed"), "石景山区人力资源和社会保障局", "北京市石景山区鲁谷街道"
    )
    assert found == {
        "service_request_id": TN,
        "status": "open",
        "status_notes": "routed: 已转送有权处理的机关，等待受理",
        "service_name": "拖欠工资",
        "service_code": "wage_arrears",
        "description": "拖欠工资三个月",
        "agency_responsible": "石景山区人力资源和社会保障局",
        "service_notice": None,
        "requested_datetime": "2026-11-28T16:00:00+08:00",
        "updated_datetime": "2026-11-29T09:30:00+08:00",
        "expected_datetime": "2026-12-14T23:59:59+08:00",
        "address": "北京市石景山区鲁谷街道",
    }


def test_a_diverted_case_names_its_legal_channel_and_a_duplicate_its_case() -> None:
    legal = {"code": "court_enforcement", "name": "向人民法院申请强制执行"}
    diverted = mapping.request_from_case(view("diverted", legal_channel=legal), None, None)
    assert diverted["service_notice"] == "请通过法定途径办理：向人民法院申请强制执行"
    linked = mapping.request_from_case(view("linked_duplicate", linked_to="X1"), None, None)
    assert "X1" in linked["status_notes"]


def test_the_date_window_is_at_most_90_days() -> None:
    now = datetime(2026, 11, 28, tzinfo=UTC)
    lo, hi = mapping.date_range(None, None, now)
    assert (hi - lo).days == 90 and hi == now
    lo, hi = mapping.date_range("2026-01-01T00:00:00Z", None, now)
    assert (hi - lo).days == 90
    assert "90 days" in " ".join(
        failure(
            lambda: mapping.date_range("2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z", now)
        ).descriptions
    )
    assert failure(lambda: mapping.date_range("yesterday", None, now)).status == 400
    assert "time zone" in failure(lambda: mapping.date_range("2026-01-01T00:00", None, now)).args[0]


# --- keys, tokens and settings ------------------------------------------------------------


def test_a_token_holds_the_request_and_cannot_be_forged() -> None:
    settings = GatewaySettings(open311_api_keys={"key-one": "cityapp", "key-two": "cityapp"})
    tok = access.make_token("key-one", "cityapp", TN)
    assert access.read_token(settings, tok) == ("cityapp", TN)
    # verified with any key of its client (keys can be rotated)
    assert access.read_token(settings, access.make_token("key-two", "cityapp", TN))
    for forged in (tok[:-1] + "a", tok.replace("cityapp", "other"), f"cityapp.{TN}.x", "x"):
        assert failure(lambda forged=forged: access.read_token(settings, forged)).status == 404


def test_upstream_tokens_are_the_clients_account() -> None:
    settings = GatewaySettings()
    common = CommonSettings()
    submit = verify_token(common, access.upstream_token(settings, "dev", "service"))
    read = verify_token(common, access.upstream_token(settings, "dev", "petitioner"))
    assert (submit.role, submit.sub) == ("service", "open311:dev")
    assert (read.role, read.sub) == ("petitioner", "open311:dev")
    configured = GatewaySettings(open311_read_tokens={"dev": "issued.by.the-issuer"})
    assert access.upstream_token(configured, "dev", "petitioner") == "issued.by.the-issuer"


def test_production_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XINFANG_ENV", "production")
    monkeypatch.setenv("XINFANG_JWT_SECRET", "s" * 40)
    assert GatewaySettings().open311_api_keys == {}  # no key unless configured
    monkeypatch.setenv("XINFANG_OPEN311_API_KEYS", json.dumps({KEY: "dev"}))
    with pytest.raises(ValidationError, match="not the dev key"):
        GatewaySettings()
    monkeypatch.setenv("XINFANG_OPEN311_API_KEYS", json.dumps({"k" * 30: "cityapp"}))
    assert GatewaySettings().open311_api_keys == {"k" * 30: "cityapp"}
    monkeypatch.setenv("XINFANG_JWT_JWKS_URL", "https://issuer.example.cn/jwks.json")
    with pytest.raises(ValidationError, match="cityapp"):
        GatewaySettings()  # tokens come from the issuer: the gateway cannot mint them
    monkeypatch.setenv("XINFANG_OPEN311_SUBMIT_TOKENS", json.dumps({"cityapp": "a.b.c"}))
    monkeypatch.setenv("XINFANG_OPEN311_READ_TOKENS", json.dumps({"cityapp": "d.e.f"}))
    assert GatewaySettings().open311_read_tokens["cityapp"].get_secret_value() == "d.e.f"
    with pytest.raises(ValidationError, match="client names"):
        GatewaySettings(open311_api_keys={"k" * 30: "city app"})


def test_intake_takes_a_services_online_submission_and_makes_it_the_owner() -> None:
    service = Principal(sub="open311:cityapp", role="service")
    body = PetitionCreate.model_validate(mapping.petition_from_form(FORM, "cityapp")[1])
    check_submitter(body, service)
    with pytest.raises(Forbidden):
        check_submitter(body.model_copy(update={"channel": "visit"}), service)
    assert owner_of(service) == "open311:cityapp"
    assert owner_of(Principal(sub="u1", role="petitioner")) == "u1"
    assert owner_of(Principal(sub="op", role="operator")) is None


# --- the routes against in-memory services ------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


class Upstreams:
    """Fake services by host name; one without a handler refuses connections."""

    def __init__(self, **handlers: Handler) -> None:
        self.handlers = handlers
        self.seen: list[tuple[str, httpx.Request]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        service = request.url.host.split(".")[0]
        self.seen.append((service, request))
        if service not in self.handlers:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return self.handlers[service](request)


@asynccontextmanager
async def gateway(up: Upstreams) -> AsyncIterator[httpx.AsyncClient]:
    urls = {f"{s}_url": f"http://{s}.test" for s in ("intake", "routing", "tracking", "evaluation")}
    settings = GatewaySettings(**urls, upstream_timeout_seconds=2, rate_limit_enabled=False)
    app = create_app(settings, transport=httpx.MockTransport(up))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as c,
    ):
        yield c


def principal_of(request: httpx.Request) -> Principal:
    return verify_token(CommonSettings(), request.headers["authorization"].removeprefix("Bearer "))


def created(request: httpx.Request) -> httpx.Response:
    return httpx.Response(201, json={"tracking_number": TN, "query_code": "K7M3QX9P"})


async def test_post_submits_as_the_client_and_a_retry_is_the_same_petition() -> None:
    up = Upstreams(intake=created)
    async with gateway(up) as c:
        first = await c.post("/open311/v2/requests.xml", data=dict(FORM))
        again = await c.post("/open311/v2/requests.xml", data=dict(FORM))
        other = await c.post("/open311/v2/requests.xml", data=dict(without(phone="13900000000")))
    assert first.status_code == 201 and first.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(first.content)
    assert root.tag == "service_requests"
    assert root.findtext("request/token") == access.make_token(KEY, "dev", TN)
    assert root.find("request/service_request_id") is None  # a token instead (the spec)
    assert "query_code" not in first.text and "K7M3QX9P" not in first.text
    assert again.content == first.content and other.status_code == 201
    (_, sent), (_, retry), (_, changed) = up.seen
    assert (principal_of(sent).role, principal_of(sent).sub) == ("service", "open311:dev")
    assert json.loads(sent.content)["petitioner"]["phone"] == "13812345678"
    assert sent.headers["idempotency-key"] == retry.headers["idempotency-key"]
    assert sent.headers["idempotency-key"] != changed.headers["idempotency-key"]


async def test_intake_refusal_down_and_credential_errors_in_the_spec_format() -> None:
    refused = {"detail": "x", "errors": [{"field": "petitioner.phone", "message": "bad"}]}
    up = Upstreams(intake=lambda r: httpx.Response(422, json=refused))
    async with gateway(up) as c:
        bad = await c.post("/open311/v2/requests.json", data=dict(FORM))
        up.handlers = {}
        down = await c.post("/open311/v2/requests.xml", data=dict(FORM))
        up.handlers = {"intake": lambda r: httpx.Response(401, json={"detail": "expired"})}
        ours = await c.post("/open311/v2/requests.json", data=dict(FORM))
    assert bad.status_code == 400 and bad.json() == [{"code": 400, "description": "phone: bad"}]
    assert down.status_code == 503 and down.headers["retry-after"]
    assert ET.fromstring(down.content).findtext("error/code") == "503"
    assert ours.status_code == 500 and "operators" in ours.json()[0]["description"]


async def test_read_as_the_petitioner_sees_it_from_intake_until_tracking_has_it() -> None:
    public = {
        "tracking_number": TN,
        "status": "received",
        "category": "wage_arrears",
        "title": "拖欠工资三个月",
        "region_code": "110107011",
        "received_at": "2026-11-28T08:00:00+00:00",
        "timeline": [{"at": "2026-11-28T08:00:00+00:00", "status": "received"}],
        "deadlines": {},
        "unit": None,
    }
    up = Upstreams(
        tracking=lambda r: httpx.Response(404, json={"detail": "no case"}),
        intake=lambda r: httpx.Response(200, json=public),
    )
    async with gateway(up) as c:
        tok = access.make_token(KEY, "dev", TN)
        pending = await c.get(f"/open311/v2/tokens/{tok}.json")
        found = await c.get(f"/open311/v2/requests/{TN}.json", params={"api_key": KEY})
    assert pending.json() == [{"service_request_id": None, "token": tok}]
    [request] = found.json()
    assert request["status"] == "open" and request["status_notes"].startswith("received")
    assert request["address"] == "北京市石景山区鲁谷街道"
    reads = [principal_of(r) for _, r in up.seen]
    assert {(p.role, p.sub) for p in reads} == {("petitioner", "open311:dev")}
    assert [(s, r.url.path) for s, r in up.seen][-2:] == [
        ("tracking", f"/api/v1/cases/{TN}"),
        ("intake", f"/api/v1/petitions/{TN}"),
    ]
