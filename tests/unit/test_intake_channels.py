"""Themed channels, grid reports and group visits: the pure rules of intake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from intake.channels import (
    Channel,
    ChannelCreate,
    ChannelField,
    ChannelPatch,
    RoutingOverride,
    check_open,
    check_scope,
    check_theme_fields,
    routing_unit,
    state_of,
)
from intake.enrich import categorize, locate_report
from intake.rules import check_reporter_region, check_submitter, identity_unclear, owner_of
from intake.schemas import PetitionCreate
from shared.auth import Principal
from shared.errors import Forbidden, Invalid

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
WAGES = "某建筑公司拖欠我们三十多名农民工工资共计四十万元，多次讨要无果，请政府帮助解决。"
GRID = Principal(sub="gw-1", role="grid_worker")


def field_of(exc: pytest.ExceptionInfo[Invalid] | pytest.ExceptionInfo[Forbidden]) -> str:
    return exc.value.errors[0]["field"]  # type: ignore[index]


def channel(**over: Any) -> Channel:
    base: dict[str, Any] = {
        "code": "wage-2026",
        "name": "根治欠薪冬季专项",
        "region_code": "110107",
        "opens_at": NOW - timedelta(days=1),
        "closes_at": NOW + timedelta(days=30),
        "closed_at": None,
        "default_category": "wage_arrears",
        "priority": 3,
        "target_response_hours": 24,
        "fields": (
            ChannelField(name="employer", label="用工单位", type="string", required=True),
            ChannelField(name="workers", label="人数", type="integer", min=1, max=500),
            ChannelField(name="amount", label="金额", type="number", min=0),
            ChannelField(name="contract", label="有无合同", type="boolean"),
            ChannelField(name="since", label="欠薪起始", type="date"),
            ChannelField(name="sector", label="行业", type="enum", options=["建筑", "制造"]),
        ),
        "routing_overrides": (
            RoutingOverride(category="wage_arrears", region_code="110107", unit_id="110107:hrss"),
            RoutingOverride(unit_id="110107:petition_bureau"),
        ),
    }
    base.update(over)
    return Channel(**base)


def body(**over: Any) -> PetitionCreate:
    base: dict[str, Any] = {
        "kind": "grievance",
        "channel": "web",
        "title": "拖欠工资",
        "content": WAGES,
        "petitioner": {"name": "张三", "phone": "13812345678", "address": "北京市海淀区"},
        "location": {"region_code": "110108"},
    }
    base.update(over)
    return PetitionCreate.model_validate(base)


def grid(**over: Any) -> PetitionCreate:
    base: dict[str, Any] = {
        "channel": "grid",
        "petitioner": None,
        "location": {"region_code": "110107011"},
        "title": "路面塌陷",
        "content": "鲁谷路口路面塌陷一米见方，车辆绕行，存在安全隐患。",
    }
    return body(**{**base, **over})


# --- channels -------------------------------------------------------------------------------


def test_state_follows_opening_closing_and_closure() -> None:
    opens, closes = NOW, NOW + timedelta(days=1)
    assert state_of(opens, closes, None, NOW - timedelta(seconds=1)) == "scheduled"
    assert state_of(opens, closes, None, NOW) == "open"
    assert state_of(opens, None, None, NOW + timedelta(days=999)) == "open"
    assert state_of(opens, closes, None, closes) == "closed"
    assert state_of(opens, closes, NOW, NOW) == "closed"


@pytest.mark.parametrize(
    ("over", "says"),
    [
        ({"closed_at": NOW - timedelta(hours=1)}, "was closed on 2026-11-28T11:00Z"),
        ({"closes_at": NOW - timedelta(hours=2)}, "closed on 2026-11-28T10:00Z"),
        ({"opens_at": NOW + timedelta(days=2)}, "opens on 2026-11-30T12:00Z"),
    ],
)
def test_a_channel_not_open_refuses_petitions_saying_when(over: dict[str, Any], says: str) -> None:
    with pytest.raises(Invalid) as exc:
        check_open(channel(**over), NOW)
    assert field_of(exc) == "theme" and says in exc.value.errors[0]["message"]  # type: ignore[index]
    check_open(channel(), NOW)


def test_scope_is_a_prefix_of_the_location() -> None:
    check_scope(channel(), "110107011")
    check_scope(channel(region_code=None), "320102")
    with pytest.raises(Invalid) as exc:
        check_scope(channel(), "110108")
    assert field_of(exc) == "location.region_code"


def test_theme_fields_are_checked_and_normalised() -> None:
    got = check_theme_fields(
        channel().fields,
        {
            "employer": " 某建筑公司 ",
            "workers": 30.0,
            "amount": 400000.5,
            "contract": False,
            "since": "2026-08-01",
            "sector": "建筑",
        },
    )
    assert got == {
        "employer": "某建筑公司",
        "workers": 30,
        "amount": 400000.5,
        "contract": False,
        "since": "2026-08-01",
        "sector": "建筑",
    }
    assert check_theme_fields(channel().fields, {"employer": "x", "sector": None}) == {
        "employer": "x"
    }


@pytest.mark.parametrize(
    ("values", "field", "says"),
    [
        ({}, "theme_fields.employer", "required"),
        ({"employer": "  "}, "theme_fields.employer", "required"),
        ({"employer": "x", "boss": "y"}, "theme_fields.boss", "no field 'boss'"),
        ({"employer": 5}, "theme_fields.employer", "must be text"),
        ({"employer": "x" * 501}, "theme_fields.employer", "at most 500"),
        ({"employer": "x", "workers": 0}, "theme_fields.workers", "at least 1"),
        ({"employer": "x", "workers": 501}, "theme_fields.workers", "at most 500"),
        ({"employer": "x", "workers": 1.5}, "theme_fields.workers", "whole number"),
        ({"employer": "x", "workers": True}, "theme_fields.workers", "whole number"),
        ({"employer": "x", "amount": "100"}, "theme_fields.amount", "must be a number"),
        ({"employer": "x", "contract": "yes"}, "theme_fields.contract", "true or false"),
        ({"employer": "x", "since": "2026-13-01"}, "theme_fields.since", "date like"),
        ({"employer": "x", "sector": "农业"}, "theme_fields.sector", "one of: 建筑, 制造"),
    ],
)
def test_wrong_theme_fields_name_the_field_and_what_is_wrong(
    values: dict[str, Any], field: str, says: str
) -> None:
    with pytest.raises(Invalid) as exc:
        check_theme_fields(channel().fields, values)
    assert field_of(exc) == field and says in exc.value.errors[0]["message"]  # type: ignore[index]


def test_first_matching_override_names_the_unit_and_litigation_is_left_alone() -> None:
    c = channel()
    assert routing_unit(c, "wage_arrears", "110107011") == "110107:hrss"
    assert routing_unit(c, "pollution", "110107011") == "110107:petition_bureau"
    assert routing_unit(c, "wage_arrears", "110108") == "110107:petition_bureau"
    assert routing_unit(c, "litigation", "110107") is None
    assert routing_unit(channel(routing_overrides=()), "wage_arrears", "110107") is None


def test_channel_definitions_are_validated() -> None:
    ok = ChannelCreate.model_validate(
        {
            "code": "flood-2026",
            "name": "汛期",
            "fields": [{"name": "a", "label": "A", "type": "string"}],
        }
    )
    assert ok.priority == 1 and ok.fields[0].max_length == 500
    bad: list[dict[str, Any]] = [
        {"code": "Flood"},
        {"code": "-x"},
        {"code": "a"},
        {"default_category": "nonsense"},
        {"priority": 10},
        {"target_response_hours": 0},
        {"target_response_hours": 721},
        {"fields": [{"name": "A", "label": "x", "type": "string"}]},
        {"fields": [{"name": "a", "label": "x", "type": "enum"}]},
        {"fields": [{"name": "a", "label": "x", "type": "string", "max_length": 2001}]},
        {"fields": [{"name": "a", "label": "x", "type": "string", "min": 1}]},
        {"fields": [{"name": "a", "label": "x", "type": "string"}] * 2},
        {"fields": [{"name": f"f{i}", "label": "x", "type": "string"} for i in range(21)]},
        {"routing_overrides": [{"unit_id": "x"}]},
        {"routing_overrides": [{"unit_id": "110107:hrss", "category": "nope"}]},
        {"region_code": "1101"},
    ]
    for over in bad:
        with pytest.raises(ValidationError):
            ChannelCreate.model_validate({"code": "flood-2026", "name": "汛期", **over})
    with pytest.raises(ValidationError):
        ChannelPatch.model_validate({"name": None})
    assert ChannelPatch.model_validate({"closes_at": None}).model_fields_set == {"closes_at"}


def test_channel_default_category_unless_litigation() -> None:
    got = categorize(body(category=None), default="wage_arrears")
    assert (got.category, got.source) == ("wage_arrears", "channel")
    assert categorize(body(category="labour_dispute"), default="wage_arrears").source == (
        "petitioner"
    )
    court = body(
        category=None,
        title="合同纠纷案件审理超期",
        content="我的合同纠纷案件去年3月在区法院立案，到现在一年半了还没有开庭审理。",
    )
    found = categorize(court, default="wage_arrears")
    assert found.category == "litigation" and found.source == "classifier"


def test_theme_fields_need_a_theme() -> None:
    with pytest.raises(Invalid) as exc:
        identity_unclear(body(theme_fields={"a": 1}))
    assert field_of(exc) == "theme_fields"


# --- grid reports ---------------------------------------------------------------------------


def test_only_grid_workers_report_on_grid_and_only_there() -> None:
    check_submitter(grid(), GRID)
    for role in ("petitioner", "unit", "operator", "service"):
        with pytest.raises(Forbidden) as exc:
            check_submitter(grid(), Principal(sub="x", role=role, unit_id="110107:hrss"))
        assert field_of(exc) == "channel"
    with pytest.raises(Forbidden):
        check_submitter(body(), GRID)
    with pytest.raises(Forbidden):
        check_submitter(body(channel="visit"), GRID)
    assert owner_of(GRID) == "gw-1"


def test_a_grid_report_has_no_petitioner_and_names_a_township_or_village() -> None:
    assert identity_unclear(grid()) is False
    assert identity_unclear(grid(kind="suggestion")) is False
    cases: list[tuple[dict[str, Any], str]] = [
        ({"petitioner": {"name": "张三"}}, "petitioner"),
        ({"anonymous": True, "kind": "suggestion"}, "anonymous"),
        ({"kind": "accusation"}, "kind"),
        ({"received_at": NOW.isoformat()}, "received_at"),
        ({"location": {"region_code": "110107"}}, "location.region_code"),
        ({"location": {"region_code": "110107000000"}}, "location.region_code"),
        ({"location": {"address": "北京市石景山区鲁谷街道"}}, "location.region_code"),
        (
            {"attachments": [photo(), photo(content_type="application/pdf")]},
            "attachments[1].content_type",
        ),
    ]
    for over, field in cases:
        with pytest.raises(Invalid) as exc:
            identity_unclear(grid(**over))
        assert field_of(exc) == field, over


def photo(content_type: str = "image/jpeg") -> dict[str, Any]:
    return {
        "name": "p.jpg",
        "content_type": content_type,
        "size": 1000,
        "sha256": "0" * 64,
        "url": "https://files.example/p.jpg",
    }


def test_a_village_code_is_located_on_its_township_and_kept() -> None:
    assert locate_report(grid(location={"region_code": "110107011"})) == ("110107011", None)
    assert locate_report(grid(location={"region_code": "110107011000"})) == ("110107011", None)
    assert locate_report(grid(location={"region_code": "110107011201"})) == (
        "110107011",
        "110107011201",
    )
    with pytest.raises(Invalid) as exc:
        locate_report(grid(location={"region_code": "110107999201"}))
    assert field_of(exc) == "location.region_code"


def test_a_grid_worker_reports_within_their_grid() -> None:
    mine = Principal(sub="gw", role="grid_worker", region_code="110107")
    check_reporter_region(mine, "110107011")
    with pytest.raises(Forbidden) as exc:
        check_reporter_region(mine, "110108001")
    assert field_of(exc) == "location.region_code"
    check_reporter_region(Principal(sub="op", role="operator", region_code="110107"), "320102")


# --- group visits ---------------------------------------------------------------------------


def rep(n: int) -> dict[str, str]:
    return {"name": f"代表{n}", "phone": "13812345678"}


def test_a_group_visit_of_more_than_five_names_one_to_five_representatives() -> None:
    visit = {"channel": "visit", "headcount": 30}
    with pytest.raises(Invalid) as exc:
        identity_unclear(body(**visit))
    assert field_of(exc) == "representatives"
    assert "a group visit of 30 people names 1 to 5 representatives" in str(exc.value)
    identity_unclear(body(**visit, representatives=[rep(1)]))
    identity_unclear(body(**visit, representatives=[rep(i) for i in range(5)]))
    identity_unclear(body(channel="visit", headcount=5))
    with pytest.raises(ValidationError):
        body(**visit, representatives=[rep(i) for i in range(6)])
    with pytest.raises(Invalid) as exc:
        identity_unclear(
            body(channel="visit", headcount=2, representatives=[rep(1), rep(2), rep(3)])
        )
    assert field_of(exc) == "representatives"
