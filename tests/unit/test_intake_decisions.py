from __future__ import annotations

from types import SimpleNamespace

import pytest

from intake.enrich import categorize
from intake.repeats import bands, jaccard, repeat_outcome, shingles
from intake.schemas import PetitionCreate
from intake.vault import may_read_identity
from shared.auth import Principal

WAGES = "某建筑公司拖欠我们三十多名农民工工资共计四十万元，多次讨要无果，请政府帮助解决。"


def test_same_matter_in_other_words_is_similar_and_other_matters_are_not() -> None:
    again = "某建筑公司拖欠我们三十多名农民工工资四十万元，多次讨要都没有结果，请政府帮助解决！"
    other = "小区门口的化工厂每天夜里排放刺鼻气体，居民头晕恶心，请环保部门查处。"
    assert jaccard(shingles(WAGES), shingles(again)) >= 0.6
    assert jaccard(shingles(WAGES), shingles(other)) < 0.1


def test_equal_texts_share_every_band_and_unrelated_share_almost_none() -> None:
    a, b = bands(shingles(WAGES)), bands(shingles(WAGES + "  "))
    assert a == b and len(a) == 16
    unrelated = bands(shingles("村里的自来水管道破裂三天无人维修，全村老人孩子没有水喝。"))
    assert len(set(a) & set(unrelated)) <= 1


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        ("received", "linked_duplicate"),
        ("routed", "linked_duplicate"),
        ("in_progress", "linked_duplicate"),
        ("under_review", "linked_duplicate"),
        ("closed", "not_reaccepted"),
        ("terminated", "not_reaccepted"),
        ("withdrawn", None),
        ("not_accepted", None),
        ("diverted", None),
    ],
)
def test_repeat_outcome_follows_the_earlier_case(status: str, outcome: str | None) -> None:
    assert repeat_outcome(status) == outcome


def body(**over: object) -> PetitionCreate:
    base: dict[str, object] = {
        "kind": "grievance",
        "channel": "web",
        "title": "拖欠工资",
        "content": WAGES,
        "petitioner": {"name": "张三", "phone": "13812345678", "address": "北京市海淀区"},
        "location": {"region_code": "110108"},
    }
    base.update(over)
    return PetitionCreate.model_validate(base)


def test_the_petitioners_category_stands_and_is_labelled_as_theirs() -> None:
    found = categorize(body(category="housing_quality"))
    assert (found.category, found.source) == ("housing_quality", "petitioner")


def test_without_a_category_the_classifier_decides_and_explains() -> None:
    found = categorize(body())
    assert found.category == "wage_arrears" and found.source == "classifier" and found.matched


def test_a_litigation_matter_is_diverted_whatever_it_was_filed_under() -> None:
    found = categorize(
        body(
            category="wage_arrears",
            title="法院判决后公司拒不执行",
            content="2025年区人民法院判决公司支付我工资八万元，判决已生效，公司至今拒不履行。",
        )
    )
    assert found.category == "litigation" and found.legal_channel == "court_enforcement"
    assert found.legal_channel_name


def petition_row(kind: str = "grievance", owner: str | None = "u1") -> SimpleNamespace:
    return SimpleNamespace(kind=kind, owner_ref=owner, region_code="110108")


def test_identity_readers() -> None:
    owner = Principal(sub="u1", role="petitioner")
    stranger = Principal(sub="u2", role="petitioner")
    operator = Principal(sub="op", role="operator")
    city_operator = Principal(sub="op2", role="operator", region_code="310000")
    unit = Principal(sub="c", role="unit", unit_id="110108:petition_bureau")
    organ = Principal(sub="d", role="unit", unit_id="110108:discipline")
    grievance, accusation = petition_row(), petition_row("accusation")
    assert may_read_identity(owner, grievance, None)
    assert not may_read_identity(stranger, grievance, None)
    assert may_read_identity(operator, grievance, None)
    assert not may_read_identity(city_operator, grievance, None)  # another region
    assert may_read_identity(unit, grievance, "110108:petition_bureau")
    assert not may_read_identity(unit, grievance, "110108:housing")  # not its case
    # an accusation's reporter: only the discipline organ handling it
    assert not may_read_identity(operator, accusation, "110108:discipline")
    assert not may_read_identity(unit, accusation, "110108:petition_bureau")
    assert may_read_identity(organ, accusation, "110108:discipline")


def located(**location: str) -> str:
    from intake.enrich import locate

    return locate(body(location=location))


def test_a_given_code_is_checked_and_refined_by_the_address() -> None:
    from shared.errors import Invalid

    assert located(region_code="110107") == "110107"
    assert located(region_code="110107", address="石景山区鲁谷街道鲁谷路1号") == "110107011"
    with pytest.raises(Invalid, match="no region has the code"):
        located(region_code="119999")
    with pytest.raises(Invalid, match="abolished") as gone:
        located(region_code="500112")
    assert "500157" in gone.value.detail


def test_an_address_alone_is_resolved_and_an_ambiguous_one_lists_candidates() -> None:
    from shared.errors import Invalid

    assert located(address="北京市石景山区鲁谷街道") == "110107011"
    assert located(address="朝阳区望京街道附近") == "110105026"  # only Beijing's has 望京
    with pytest.raises(Invalid) as ambiguous:
        located(address="朝阳区幸福小区3号楼")
    error = ambiguous.value.errors[0]
    assert error["field"] == "location.address"
    codes = {c["region_code"][:6] for c in error["candidates"]}
    assert {"110105", "220104"} <= codes
    with pytest.raises(Invalid, match="no province"):
        located(address="我家门口")


def test_an_accusations_reporter_is_shown_only_to_the_reporter_and_the_discipline_organ() -> None:
    from tracking.views import shows_reporter

    accusation = SimpleNamespace(kind="accusation", anonymous=False)
    grievance = SimpleNamespace(kind="grievance", anonymous=False)
    organ = Principal(sub="d", role="unit", unit_id="110108:discipline")
    bureau = Principal(sub="b", role="unit", unit_id="110108:petition_bureau")
    operator = Principal(sub="o", role="operator")
    reporter = Principal(sub="r", role="petitioner")
    assert shows_reporter(reporter, accusation) and shows_reporter(organ, accusation)
    assert not shows_reporter(bureau, accusation) and not shows_reporter(operator, accusation)
    assert shows_reporter(bureau, grievance)
    assert not shows_reporter(reporter, SimpleNamespace(kind="suggestion", anonymous=True))
