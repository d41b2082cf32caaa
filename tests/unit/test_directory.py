"""The national unit directory generated from the region data (routing/directory.py)."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from routing.directory import NATIONAL, Unit, UnitNames, generate, unit_name
from shared.regions import RegionDirectory
from shared.vocabulary import FUNCTIONS

LOCAL = [f for f in FUNCTIONS if f != "township"]  # every prefecture and county has all of them
ALWAYS = ("petition_bureau", "discipline", "political_legal")
TOWNSHIP_NAMES = (("街道", "街道办事处"), ("镇", "镇人民政府"), ("乡", "乡人民政府"))


@pytest.fixture(scope="module")
def regions() -> RegionDirectory:
    return RegionDirectory.default()


@pytest.fixture(scope="module")
def units(regions: RegionDirectory) -> list[Unit]:
    return generate(regions)


@pytest.fixture(scope="module")
def by_id(units: list[Unit]) -> dict[str, Unit]:
    return {u.id: u for u in units}


# -- names -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uid", "name"),
    [
        ("000000:hrss", "人力资源社会保障部"),
        ("000000:petition_bureau", "国家信访局"),
        ("000000:discipline", "中央纪委国家监委"),
        ("000000:political_legal", "中央政法委"),
        ("000000:health", "国家卫生健康委员会"),
        ("000000:market_regulation", "国家市场监督管理总局"),
        ("210000:hrss", "辽宁省人力资源和社会保障厅"),
        ("210000:housing", "辽宁省住房和城乡建设厅"),
        ("210000:health", "辽宁省卫生健康委员会"),
        ("210000:medical_insurance", "辽宁省医疗保障局"),
        ("210000:petition_bureau", "辽宁省信访局"),
        ("210000:discipline", "辽宁省纪委监委"),
        ("210000:political_legal", "辽宁省委政法委"),
        ("650000:political_legal", "新疆维吾尔自治区党委政法委"),
        ("110000:hrss", "北京市人力资源和社会保障局"),
        ("110000:housing", "北京市住房和城乡建设委员会"),
        ("110000:natural_resources", "北京市规划和自然资源委员会"),
        ("110000:urban_management", "北京市城市管理委员会"),
        ("210100:hrss", "沈阳市人力资源和社会保障局"),
        ("210100:urban_management", "沈阳市城市管理局"),
        ("652900:political_legal", "阿克苏地委政法委"),
        ("652900:discipline", "阿克苏地区纪委监委"),
        ("110107:housing", "石景山区住房和城乡建设委员会"),
        ("110107:public_security", "北京市公安局石景山分局"),
        ("210112:agriculture", "浑南区农业农村局"),
        ("210112:health", "浑南区卫生健康委员会"),
        ("210112:urban_management", "浑南区城市管理局"),
        ("210112:petition_bureau", "浑南区信访局"),
        ("210112:public_security", "沈阳市公安局浑南区分局"),
        ("500229:public_security", "城口县公安局"),
        ("110107011:township", "鲁谷街道办事处"),
    ],
)
def test_names_at_every_level(by_id: dict[str, Unit], uid: str, name: str) -> None:
    assert by_id[uid].name == name


def test_county_names_follow_the_level_rule(regions: RegionDirectory, by_id: dict) -> None:
    county = next(r for r in regions if r.level == "county" and r.name.endswith("县"))
    unit = by_id[f"{county.short}:discipline"]
    assert unit.name == f"{county.name}纪委监委"
    assert by_id[f"{county.short}:political_legal"].name == f"{county.name}委政法委"


def test_township_names(regions: RegionDirectory, by_id: dict[str, Unit]) -> None:
    seen = set()
    for region in regions:
        if region.level != "township":
            continue
        name = by_id[f"{region.short}:township"].name
        for ending, expected in (
            ("街道", "街道办事处"),
            ("镇", "镇人民政府"),
            ("乡", "乡人民政府"),
        ):
            if region.name.endswith(ending):
                assert name == region.name[: -len(ending)] + expected, region
                seen.add(ending)
        if region.name.endswith("苏木"):
            assert name == f"{region.name}人民政府"
    assert seen == {"街道", "镇", "乡"}


def test_unit_name_function() -> None:
    assert unit_name("中华人民共和国", "national", "hrss") == "人力资源社会保障部"
    assert unit_name("辽宁省", "province", "hrss") == "辽宁省人力资源和社会保障厅"
    assert unit_name("浑南区", "county", "agriculture") == "浑南区农业农村局"
    assert unit_name("鲁谷街道", "township", "township") == "鲁谷街道办事处"
    assert unit_name("城关镇", "township", "township") == "城关镇人民政府"
    # a region's own naming needs its code, inherited naming its parent
    beijing = RegionDirectory.default().get("110000")
    assert unit_name("北京市", "province", "housing", region_code="110000") == (
        "北京市住房和城乡建设委员会"
    )
    assert unit_name("石景山区", "county", "housing", parent=beijing) == (
        "石景山区住房和城乡建设委员会"
    )
    assert unit_name("石景山区", "county", "housing") == "石景山区住房和城乡建设局"
    with pytest.raises(ValueError):
        unit_name("中华人民共和国", "national", "urban_management")
    with pytest.raises(ValueError):
        unit_name("辽宁省", "province", "urban_management")


# -- the whole directory -----------------------------------------------------------------------


def test_counts(regions: RegionDirectory, units: list[Unit]) -> None:
    levels = Counter(r.level for r in regions if r.code[:2] not in ("71", "81", "82"))
    by_level = Counter(u.level for u in units)
    print(f"\nunits by level: {dict(by_level)}, total {len(units)}")
    assert by_level["national"] == len(FUNCTIONS) - 2  # no national urban_management, township
    assert by_level["township"] == levels["township"] >= 38_000
    assert by_level["county"] == levels["county"] * len(LOCAL)
    assert by_level["prefecture"] == levels["prefecture"] * len(LOCAL)
    # provinces: no urban_management, except the four municipalities
    assert by_level["province"] == levels["province"] * (len(LOCAL) - 1) + 4
    assert 100_000 <= len(units) <= 110_000


def test_every_region_has_its_units(regions: RegionDirectory, by_id: dict[str, Unit]) -> None:
    for region in regions:
        if region.code[:2] in ("71", "81", "82"):  # 台湾, 香港, 澳门: no petition units
            assert not any(f"{region.short}:{f}" in by_id for f in FUNCTIONS), region
        elif region.level == "township":
            unit = by_id[f"{region.short}:township"]
            assert (unit.region_code, unit.level) == (region.short, "township")
        else:
            for function in ALWAYS:
                unit = by_id[f"{region.short}:{function}"]
                assert (unit.region_code, unit.level) == (region.short, region.level)
            if region.level in ("prefecture", "county"):
                assert all(f"{region.short}:{f}" in by_id for f in LOCAL), region


def test_ids_are_unique_and_well_formed(units: list[Unit]) -> None:
    assert len({u.id for u in units}) == len(units)
    digits = {"national": 6, "province": 6, "prefecture": 6, "county": 6, "township": 9}
    for u in units:
        assert u.id == f"{u.region_code}:{u.function}"
        assert len(u.region_code) == digits[u.level] and u.region_code.isdigit(), u
        assert u.function in FUNCTIONS
        assert (u.function == "township") == (u.level == "township"), u
        assert (u.region_code == NATIONAL) == (u.level == "national"), u


def test_every_parent_exists_one_level_up(units: list[Unit], by_id: dict[str, Unit]) -> None:
    rank = {"national": 0, "province": 1, "prefecture": 2, "county": 3, "township": 4}
    for u in units:
        if u.level == "national":
            assert u.parent_id is None
            continue
        parent = by_id[u.parent_id]
        assert rank[parent.level] < rank[u.level], u
        if u.level == "township":
            assert parent.function == "petition_bureau", u
        elif u.function == "urban_management" and parent.level in ("national", "province"):
            assert parent.function in ("urban_management", "housing"), u
        else:
            assert parent.function == u.function, u
    assert by_id["210112:housing"].parent_id == "210100:housing"
    assert by_id["210100:housing"].parent_id == "210000:housing"
    assert by_id["210000:housing"].parent_id == "000000:housing"
    assert by_id["110107:housing"].parent_id == "110000:housing"  # a municipal district
    assert by_id["210100:urban_management"].parent_id == "210000:housing"
    assert by_id["110000:urban_management"].parent_id == "000000:housing"
    assert by_id["110107011:township"].parent_id == "110107:petition_bureau"


def test_prefecture_cities_without_counties(regions: RegionDirectory, by_id: dict) -> None:
    dongguan = regions.get("441900")
    assert dongguan is not None and dongguan.level == "prefecture"
    assert by_id["441900:hrss"].name == "东莞市人力资源和社会保障局"
    assert by_id["441900:hrss"].parent_id == "440000:hrss"
    for code in ("441900", "442000", "460400", "620200"):
        assert all(f"{code}:{f}" in by_id for f in LOCAL), code
        for town in regions.children(code):  # none in the vendored data when written
            assert by_id[f"{town.short}:township"].parent_id == f"{code}:petition_bureau"


def test_townships_directly_under_a_city() -> None:
    """东莞-style: a prefecture-level city whose townships hang directly under it."""
    rows = [
        ["440000000000", "广东省", "province", None, "test"],
        ["441900000000", "东莞市", "prefecture", "440000000000", "test"],
        ["441900003000", "东城街道", "township", "441900000000", "test"],
        ["441900101000", "长安镇", "township", "441900000000", "test"],
    ]
    units = {u.id: u for u in generate(RegionDirectory(rows))}
    assert units["441900003:township"].name == "东城街道办事处"
    assert units["441900101:township"].name == "长安镇人民政府"
    assert units["441900101:township"].parent_id == "441900:petition_bureau"
    assert units["441900:urban_management"].parent_id == "440000:housing"


def test_deterministic(units: list[Unit], regions: RegionDirectory) -> None:
    assert generate(regions) == units
    assert units[0].id == "000000:petition_bureau"
    assert [u.id for u in units[20:23]] == [
        "110000:petition_bureau",
        "110000:discipline",
        "110000:political_legal",
    ]


def test_naming_table_rejects_unknown_functions() -> None:
    table = {level: {} for level in ("national", "province", "prefecture", "county", "township")}
    table["county"]["tax"] = "税务局"
    with pytest.raises(ValueError, match="tax"):
        UnitNames(table)


def test_generation_time(regions: RegionDirectory) -> None:
    list(regions)  # the region data is loaded once per process; time the generation alone
    start = time.perf_counter()
    units = generate(regions)
    elapsed = time.perf_counter() - start
    print(f"\ngenerated {len(units)} units in {elapsed:.2f} s")
