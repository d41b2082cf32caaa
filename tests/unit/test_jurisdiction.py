"""Jurisdiction rules (routing/jurisdiction.py) over the real generated unit directory."""

from __future__ import annotations

import copy
import dataclasses
import json
import random
from importlib import resources

import pytest

from routing.directory import Unit, generate
from routing.jurisdiction import (
    ACCUSED,
    OBJECTED,
    Directory,
    RoutingDecision,
    Rules,
    decide,
)
from shared.regions import RegionDirectory
from shared.vocabulary import CATEGORIES, KINDS

# TAXONOMY.md, "Categories": code -> (lead function, often also). The shipped data must match.
TAXONOMY = {
    "wage_arrears": ("hrss", ("housing",)),
    "labour_dispute": ("hrss", ()),
    "social_insurance": ("hrss", ("medical_insurance",)),
    "housing_quality": ("housing", ("township",)),
    "property_management": ("housing", ("township",)),
    "land_acquisition": ("natural_resources", ("housing", "finance")),
    "rural_land": ("agriculture", ("natural_resources",)),
    "agriculture": ("agriculture", ("ecology",)),
    "pollution": ("ecology", ()),
    "urban_order": ("urban_management", ("township",)),
    "transport": ("transport", ()),
    "health": ("health", ()),
    "education": ("education", ()),
    "social_assistance": ("civil_affairs", ()),
    "consumer": ("market_regulation", ()),
    "safety_hazard": ("emergency", ("housing",)),
    "public_order": ("public_security", ()),
    "government_arrears": ("finance", ()),
    "veterans": ("veterans", ()),
    "water": ("water", ()),
    "misconduct": ("discipline", ()),
    "litigation": ("political_legal", ()),
    "policy": (None, ()),
    "other": ("petition_bureau", ()),
}
RANK = {"national": 0, "province": 1, "prefecture": 2, "county": 3, "township": 4}


@pytest.fixture(scope="module")
def units() -> list[Unit]:
    return generate()


@pytest.fixture(scope="module")
def directory(units: list[Unit]) -> Directory:
    return Directory(units)


@pytest.fixture(scope="module")
def by_id(units: list[Unit]) -> dict[str, Unit]:
    return {u.id: u for u in units}


def raw_rules() -> dict:
    return json.loads(resources.files("routing.data").joinpath("routing_rules.json").read_bytes())


def route(directory: Directory, **kw) -> RoutingDecision:
    args = dict(
        region_code="110107",
        category="wage_arrears",
        kind="grievance",
        accused_unit_id=None,
        headcount=1,
        text="",
        directory=directory,
    )
    args.update(kw)
    return decide(**args)


# -- the rules table ---------------------------------------------------------------------------


def test_shipped_rules_follow_taxonomy() -> None:
    rules = Rules.default()
    assert set(rules.categories) == set(CATEGORIES)
    for code, (lead, also) in TAXONOMY.items():
        rule = rules.categories[code]
        assert (rule.lead, rule.also) == (lead, also), code
    local = {code for code, rule in rules.categories.items() if rule.local}
    assert local == {c for c, (_, also) in TAXONOMY.items() if "township" in also}
    handling = {c: r.handling for c, r in rules.categories.items() if r.handling != "route"}
    assert handling == {
        "misconduct": "accusation",
        "litigation": "divert",
        "policy": "by_topic",
        "other": "triage",
    }
    assert rules.overrides == ()
    assert rules.headcount == 50
    assert {"安全", "爆炸", "火灾", "群体", "堵路", "自杀", "跳楼", "坍塌"} <= set(rules.keywords)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["categories"]["wage_arrears"].update(lead="hrs"), "unknown functions"),
        (lambda d: d["categories"]["other"].update(handling="ask"), "unknown handling"),
        (lambda d: d["categories"]["pollution"].update(lead=None), "needs a lead"),
        (lambda d: d["overrides"].append({"region": "32x5", "category": "water"}), "region"),
        (
            lambda d: d["overrides"].append(
                {"region": "3205", "category": "misconduct", "function": "hrss"}
            ),
            "category",
        ),
        (
            lambda d: d["overrides"].append(
                {"region": "3205", "category": "water", "level": "village"}
            ),
            "level",
        ),
        (lambda d: d["overrides"].append({"region": "3205", "category": "water"}), "nothing"),
    ],
)
def test_rules_reject_typos(change, message: str) -> None:
    data = raw_rules()
    change(data)
    with pytest.raises(ValueError, match=message):
        Rules.from_mapping(data)


# -- territory x function x level --------------------------------------------------------------


def test_wage_arrears_goes_to_the_county_hrss_with_housing(directory: Directory) -> None:
    d = route(directory)
    assert (d.outcome, d.lead_unit_id, d.co_unit_ids) == (
        "routed",
        "110107:hrss",
        ("110107:housing",),
    )
    assert (d.function, d.level, d.region_code, d.major, d.excluded) == (
        "hrss",
        "county",
        "110107",
        False,
        (),
    )
    assert {"step": "lead_function", "category": "wage_arrears", "function": "hrss"} in d.path


def test_township_region_of_a_non_local_category_goes_to_its_county(directory: Directory) -> None:
    d = route(directory, region_code="110107011000", category="social_insurance")
    assert (d.lead_unit_id, d.co_unit_ids) == ("110107:hrss", ("110107:medical_insurance",))


def test_local_matter_in_a_township_goes_to_its_government(directory: Directory) -> None:
    d = route(directory, region_code="110107011", category="property_management")
    assert (d.outcome, d.lead_unit_id, d.level, d.region_code) == (
        "routed",
        "110107011:township",
        "township",
        "110107011",
    )
    assert d.co_unit_ids == ("110107:housing",)  # the county department co-handles


def test_local_matter_at_county_level_stays_with_the_department(directory: Directory) -> None:
    d = route(directory, region_code="110107", category="property_management")
    assert (d.lead_unit_id, d.co_unit_ids) == ("110107:housing", ())
    assert any(p["step"] == "co_skip" and p["function"] == "township" for p in d.path)


def test_urban_order_in_a_village_goes_to_its_township(directory: Directory) -> None:
    d = route(directory, region_code="110107011001", category="urban_order")
    assert (d.lead_unit_id, d.co_unit_ids) == ("110107011:township", ("110107:urban_management",))
    assert any(p.get("nearest") == "110107011" for p in d.path)


@pytest.mark.parametrize("city", ["441900", "442000", "460400", "620200"])
def test_cities_without_counties_route_at_city_level(directory: Directory, city: str) -> None:
    d = route(directory, region_code=city)
    assert (d.lead_unit_id, d.co_unit_ids) == (f"{city}:hrss", (f"{city}:housing",))
    assert (d.level, d.region_code) == ("prefecture", city)
    # the region data has no townships under these cities: a township code is read as the city
    d = route(directory, region_code=f"{city}003", category="property_management")
    assert d.lead_unit_id == f"{city}:housing"


def test_litigation_is_diverted(directory: Directory) -> None:
    d = route(directory, category="litigation", region_code="110107011")
    assert (d.outcome, d.lead_unit_id, d.co_unit_ids) == (
        "diverted",
        "110107:political_legal",
        (),
    )


@pytest.mark.parametrize("category", ["other", "no_such_category", "policy"])
def test_triage_at_the_county_petition_bureau(directory: Directory, category: str) -> None:
    d = route(directory, category=category, region_code="110107011")
    assert (d.outcome, d.lead_unit_id, d.co_unit_ids, d.function) == (
        "triage",
        "110107:petition_bureau",
        (),
        "petition_bureau",
    )


def test_policy_with_a_topic_goes_to_the_topic(directory: Directory) -> None:
    d = route(directory, category="policy", kind="suggestion", topic="education")
    assert (d.outcome, d.lead_unit_id) == ("routed", "110107:education")
    d = route(directory, category="policy", kind="suggestion", topic="pollution")
    assert d.lead_unit_id == "110107:ecology"


def test_a_concerned_unit_higher_up_lifts_the_matter(directory: Directory) -> None:
    d = route(directory, region_code="210112", accused_unit_id="210000:hrss")
    assert (d.lead_unit_id, d.co_unit_ids, d.level) == (
        "210000:hrss",
        ("210000:housing",),
        "province",
    )
    d = route(directory, region_code="210112", accused_unit_id="210112:hrss")
    assert d.lead_unit_id == "210112:hrss"


# -- regions -----------------------------------------------------------------------------------


def test_an_abolished_region_is_read_as_its_successor(directory: Directory) -> None:
    d = route(directory, region_code="110228")  # 密云县 -> 密云区 (2015)
    assert d.lead_unit_id == "110118:hrss"
    assert any(p.get("successor") == "110118" for p in d.path)


@pytest.mark.parametrize("code", ["990000", "abc", "1101", "", "110107x", "000000001"])
def test_unresolvable_regions_go_to_triage_without_a_unit(directory: Directory, code) -> None:
    d = route(directory, region_code=code, text="爆炸")
    assert (d.outcome, d.lead_unit_id, d.co_unit_ids, d.notify_unit_ids) == (
        "triage",
        None,
        (),
        (),
    )
    assert d.major and d.level == ""


def test_the_national_region_goes_to_the_national_units(directory: Directory) -> None:
    d = route(directory, region_code="000000")
    assert (d.lead_unit_id, d.co_unit_ids, d.level) == (
        "000000:hrss",
        ("000000:housing",),
        "national",
    )
    assert route(directory, region_code="000000", category="other").lead_unit_id == (
        "000000:petition_bureau"
    )


def test_an_unknown_township_is_read_as_its_county(directory: Directory) -> None:
    d = route(directory, region_code="110107999", category="property_management")
    assert d.lead_unit_id == "110107:housing"


def test_a_split_region_goes_to_triage(units: list[Unit]) -> None:
    regions = RegionDirectory.default()
    rows = [[r.code, r.name, r.level, r.parent, r.source] for r in regions]
    gone = [["110199000000", "旧区", "county", "110000000000", ["110107000000", "110108000000"]]]
    gone[0] += [2020, "split", "test"]
    directory = Directory(units, regions=RegionDirectory(rows, gone))
    d = route(directory, region_code="110199")
    assert (d.outcome, d.lead_unit_id) == ("triage", "110000:petition_bureau")


# -- missing, retired and objecting units ------------------------------------------------------


def test_a_missing_unit_passes_the_matter_up(units: list[Unit]) -> None:
    without = Directory([u for u in units if u.id not in ("110107:hrss", "210112:hrss")])
    assert route(without).lead_unit_id == "110000:hrss"  # no prefecture in 北京
    assert route(without, region_code="210112").lead_unit_id == "210100:hrss"
    # urban management: where there is none, the housing department holds the remit (as in
    # the directory's parent_id), in the same region before any region above
    gone = {"210112:urban_management"}
    d = route(
        Directory([u for u in units if u.id not in gone]),
        region_code="210112",
        category="urban_order",
    )
    assert d.lead_unit_id == "210112:housing"
    gone |= {"210112:housing", "210100:urban_management"}
    d = route(
        Directory([u for u in units if u.id not in gone]),
        region_code="210112",
        category="urban_order",
    )
    assert d.lead_unit_id == "210100:housing"
    assert any(p["step"] == "up" for p in d.path)


def test_a_retired_unit_is_replaced_by_its_successor(units: list[Unit]) -> None:
    new = Unit("110107:hrss:2", "石景山区人力资源和社会保障局", "110107", "county", "hrss", None)
    directory = Directory([*units, new], successor_of={"110107:hrss": "110107:hrss:2"})
    d = route(directory)
    assert d.lead_unit_id == "110107:hrss:2"
    assert {"step": "successor", "retired": "110107:hrss", "unit": "110107:hrss:2"}.items() <= (
        next(p for p in d.path if p["step"] == "successor").items()
    )
    # the accused unit's successor is barred too
    directory = Directory(
        [*units, dataclasses.replace(new, id="110107:discipline:2", function="discipline")],
        successor_of={"110107:discipline": "110107:discipline:2"},
    )
    d = route(directory, kind="accusation", accused_unit_id="110107:discipline")
    assert d.lead_unit_id == "110000:discipline"
    assert ("110107:discipline:2", "successor of the accused unit (Art. 24, 30)") in d.excluded


def test_an_objecting_unit_is_replaced_one_level_up(directory: Directory) -> None:
    d = route(directory, excluded_unit_ids=frozenset({"110107:hrss"}))
    assert (d.outcome, d.lead_unit_id) == ("routed", "110000:hrss")
    assert d.excluded == (("110107:hrss", OBJECTED),)
    d = route(directory, excluded_unit_ids=frozenset({"110107:hrss", "110000:hrss"}))
    assert (d.outcome, d.lead_unit_id) == ("triage", "110107:petition_bureau")


def test_an_objecting_co_handler_is_dropped(directory: Directory) -> None:
    d = route(directory, excluded_unit_ids=frozenset({"110107:housing"}))
    assert (d.lead_unit_id, d.co_unit_ids) == ("110107:hrss", ())


def test_an_objecting_township_hands_over_to_the_county(directory: Directory) -> None:
    gone = frozenset({"110107011:township"})
    d = route(
        directory, region_code="110107011", category="property_management", excluded_unit_ids=gone
    )
    assert (d.lead_unit_id, d.co_unit_ids) == ("110107:housing", ())
    d = route(
        directory,
        region_code="110107011",
        category="property_management",
        excluded_unit_ids=gone | {"110107:housing"},
    )
    assert (d.outcome, d.lead_unit_id) == ("triage", "110107:petition_bureau")


def test_an_objecting_political_legal_committee(directory: Directory) -> None:
    d = route(
        directory, category="litigation", excluded_unit_ids=frozenset({"110107:political_legal"})
    )
    assert (d.outcome, d.lead_unit_id) == ("diverted", "110000:political_legal")


# -- operator overrides (a fixture: the shipped table has none) ---------------------------------


@pytest.fixture(scope="module")
def township_city_rules() -> Rules:
    """An operator who made property management a county matter nationwide, except in 苏州
    (3205), which handles it in its township governments; and a few other overrides."""
    data = copy.deepcopy(raw_rules())
    data["categories"]["property_management"]["local"] = False
    data["overrides"] = [
        {"region": "3205", "category": "property_management", "function": "township"},
        {"region": "320505", "category": "rural_land", "function": "township"},
        {"region": "32", "category": "rural_land", "function": "natural_resources"},
        {"region": "21", "category": "education", "level": "prefecture"},
        {"region": "11", "category": "education", "level": "prefecture"},
    ]
    return Rules.from_mapping(data)


def test_override_sends_property_management_to_the_township(
    directory: Directory, township_city_rules: Rules
) -> None:
    rules = township_city_rules
    d = route(directory, region_code="320505002", category="property_management", rules=rules)
    assert (d.lead_unit_id, d.co_unit_ids) == ("320505002:township", ("320505:housing",))
    assert any(p["step"] == "override" and p["region"] == "3205" for p in d.path)
    # elsewhere the operator's table keeps it with the county department
    d = route(directory, region_code="110107011", category="property_management", rules=rules)
    assert (d.lead_unit_id, d.co_unit_ids) == ("110107:housing", ("110107011:township",))
    # in 苏州 but no township known: the county department
    d = route(directory, region_code="320505", category="property_management", rules=rules)
    assert d.lead_unit_id == "320505:housing"


def test_the_longest_override_prefix_wins(directory: Directory, township_city_rules) -> None:
    rules = township_city_rules
    d = route(directory, region_code="320505002", category="rural_land", rules=rules)
    assert d.lead_unit_id == "320505002:township"
    d = route(directory, region_code="320506", category="rural_land", rules=rules)
    assert (d.lead_unit_id, d.co_unit_ids) == ("320506:natural_resources", ())
    d = route(directory, region_code="330106", category="rural_land", rules=rules)
    assert (d.lead_unit_id, d.co_unit_ids) == ("330106:agriculture", ("330106:natural_resources",))


def test_override_level(directory: Directory, township_city_rules: Rules) -> None:
    rules = township_city_rules
    d = route(directory, region_code="210112005", category="education", rules=rules)
    assert (d.lead_unit_id, d.level) == ("210100:education", "prefecture")
    # 北京 has no prefecture level: the nearest level above
    d = route(directory, region_code="110107", category="education", rules=rules)
    assert (d.lead_unit_id, d.level) == ("110000:education", "province")


# -- accusations -------------------------------------------------------------------------------


def accuse(directory: Directory, accused: str | None, **kw) -> RoutingDecision:
    return route(directory, kind="accusation", category="misconduct", accused_unit_id=accused, **kw)


@pytest.mark.parametrize(
    ("accused", "lead"),
    [
        ("110107:housing", "110107:discipline"),
        ("110107:petition_bureau", "110107:discipline"),
        ("110107:discipline", "110000:discipline"),  # 北京: no prefecture level, the city
        ("210112:discipline", "210100:discipline"),
        ("210100:discipline", "210000:discipline"),
        ("210000:discipline", "000000:discipline"),
        ("110107011:township", "110107:discipline"),
        ("441900:hrss", "441900:discipline"),
        ("000000:hrss", "000000:discipline"),
        ("110107:housing:7", "110107:discipline"),  # not in the directory: read from its id
    ],
)
def test_accusation_goes_to_the_discipline_organ_over_the_accused(
    directory: Directory, accused: str, lead: str
) -> None:
    d = accuse(directory, accused, region_code="320505")
    assert (d.outcome, d.lead_unit_id, d.co_unit_ids, d.function) == (
        "routed",
        lead,
        (),
        "discipline",
    )
    assert (accused, ACCUSED) in d.excluded


def test_accusation_against_the_central_discipline_organ_goes_to_triage(directory) -> None:
    d = accuse(directory, "000000:discipline")
    assert (d.outcome, d.lead_unit_id) == ("triage", "000000:petition_bureau")


def test_accusation_without_an_accused_unit(directory: Directory) -> None:
    d = accuse(directory, None, region_code="110107011")
    assert d.lead_unit_id == "110107:discipline"
    d = accuse(directory, None, region_code="441900")
    assert d.lead_unit_id == "441900:discipline"


def test_accusation_of_another_category_is_still_an_accusation(directory: Directory) -> None:
    d = route(directory, kind="accusation", category="litigation", accused_unit_id="110107:hrss")
    assert (d.outcome, d.lead_unit_id, d.co_unit_ids) == ("routed", "110107:discipline", ())
    d = route(directory, kind="grievance", category="misconduct", accused_unit_id="110107:hrss")
    assert d.lead_unit_id == "110107:discipline"


def test_accusation_skips_an_objecting_discipline_organ(directory: Directory) -> None:
    d = accuse(directory, "110107:housing", excluded_unit_ids=frozenset({"110107:discipline"}))
    assert d.lead_unit_id == "110000:discipline"
    both = frozenset({"110107:discipline", "110000:discipline"})
    d = accuse(directory, "110107:housing", excluded_unit_ids=both)
    assert (d.outcome, d.lead_unit_id) == ("triage", "110107:petition_bureau")
    # the petition bureau is accused: triage one level up
    d = accuse(directory, "110107:petition_bureau", excluded_unit_ids=both)
    assert (d.outcome, d.lead_unit_id) == ("triage", "110000:petition_bureau")


def test_major_accusation_never_notifies_the_accused_bureau(directory: Directory) -> None:
    d = accuse(directory, "110107:petition_bureau", text="群体聚集")
    assert (d.lead_unit_id, d.major, d.notify_unit_ids) == (
        "110107:discipline",
        True,
        ("110000:petition_bureau",),
    )


# -- major -------------------------------------------------------------------------------------


def test_major_keyword_notifies_the_same_level_petition_bureau(directory: Directory) -> None:
    d = route(directory, text="工地脚手架坍塌，工人讨薪")
    assert (d.major, d.notify_unit_ids) == (True, ("110107:petition_bureau",))
    assert {"step": "major", "headcount": "1", "keywords": "坍塌"} in d.path


def test_major_headcount(directory: Directory) -> None:
    assert route(directory, headcount=49).major is False
    d = route(directory, headcount=50)
    assert (d.major, d.notify_unit_ids) == (True, ("110107:petition_bureau",))
    data = raw_rules()
    data["major"]["headcount"] = 10
    assert route(directory, headcount=10, rules=Rules.from_mapping(data)).major


def test_major_at_township_and_triage(directory: Directory) -> None:
    d = route(directory, region_code="110107011", category="urban_order", text="违建起火")
    assert d.notify_unit_ids == ("110107:petition_bureau",)
    d = route(directory, category="other", headcount=80)  # the lead is the bureau itself
    assert (d.major, d.lead_unit_id, d.notify_unit_ids) == (True, "110107:petition_bureau", ())
    d = route(directory, category="litigation", headcount=80)
    assert (d.outcome, d.notify_unit_ids) == ("diverted", ("110107:petition_bureau",))


def test_decision_is_immutable_and_kind_is_checked(directory: Directory) -> None:
    d = route(directory)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.lead_unit_id = "x"  # type: ignore[misc]
    with pytest.raises(ValueError, match="kind"):
        route(directory, kind="complaint")


# -- properties --------------------------------------------------------------------------------


def _parent_region(regions: RegionDirectory, short: str) -> str | None:
    if short == "000000":
        return None
    parent = regions.get(short).parent
    return regions.get(parent).short if parent else "000000"


def test_property_accusations(units: list[Unit], directory: Directory, by_id) -> None:
    """5,000 random accusations: never the accused or an excluded unit; a discipline organ at
    the accused's level or exactly one level up (one more per objecting organ skipped), else
    triage at a petition bureau only when no organ is left."""
    rng = random.Random(20220501)
    regions = RegionDirectory.default()
    discipline = [u for u in units if u.function == "discipline"]
    townships = [u for u in units if u.function == "township"]
    national = [u for u in units if u.level == "national"]
    pools = [discipline, townships, national, units]
    counts = {"routed": 0, "triage": 0, "stepped": 0, "none": 0}
    for _ in range(5000):
        accused = rng.choice(rng.choice(pools)) if rng.random() > 0.05 else None
        matter = rng.choice(units).region_code
        # the organ the law names (Art. 30), independently of the code under test
        if accused is None:
            own = matter if len(matter) == 6 else _parent_region(regions, matter)
        elif accused.function in ("discipline", "township"):
            own = _parent_region(regions, accused.region_code)
        else:
            own = accused.region_code
        competent = f"{own}:discipline" if own else None
        assert competent is None or competent in by_id
        excluded = {rng.choice(units).id for _ in range(rng.randrange(3))}
        if competent and rng.random() < 0.3:
            excluded.add(competent)
            if rng.random() < 0.3 and by_id[competent].parent_id:
                excluded.add(by_id[competent].parent_id)
        # an accusation by its kind, or by its category whatever the kind
        kind, category = "accusation", rng.choice(CATEGORIES)
        if rng.random() < 0.5:
            kind, category = rng.choice(KINDS), "misconduct"
        d = decide(
            region_code=matter,
            category=category,
            kind=kind,
            accused_unit_id=accused.id if accused else None,
            headcount=rng.randrange(100),
            text=rng.choice(("", "群体堵路", "作风问题")),
            directory=directory,
            excluded_unit_ids=frozenset(excluded),
        )
        d_units = {d.lead_unit_id, *d.co_unit_ids, *d.notify_unit_ids} - {None}
        barred = excluded | ({accused.id} if accused else set())
        assert not d_units & barred, d
        assert d.co_unit_ids == ()
        if accused:
            assert (accused.id, ACCUSED) in d.excluded
        # the expected organ: the competent one, or its parent if it objected (one step only)
        expected, stepped = competent, False
        if expected in excluded:
            expected, stepped = by_id[expected].parent_id, True
            if expected in barred:
                expected = None
        counts["stepped"] += stepped
        if expected is None:
            assert (d.outcome, d.function) == ("triage", "petition_bureau"), d
            assert d.lead_unit_id is not None
            counts["triage"] += 1
            counts["none"] += competent is None
            continue
        assert (d.outcome, d.lead_unit_id, d.function) == ("routed", expected, "discipline"), d
        counts["routed"] += 1
        if accused:
            lead = by_id[d.lead_unit_id]
            allowed = {accused.region_code, _parent_region(regions, accused.region_code)}
            if stepped:
                allowed = {_parent_region(regions, r) for r in allowed if r}
            assert lead.region_code in allowed, (accused, d)
            assert RANK[lead.level] <= RANK[accused.level]
            if not stepped:
                assert lead.level == accused.level or lead.region_code == _parent_region(
                    regions, accused.region_code
                )
    # every branch was exercised
    assert counts["routed"] > 3000 and counts["stepped"] > 500
    assert counts["triage"] > 50 and counts["none"] > 5


def test_property_grievances(units: list[Unit], directory: Directory, by_id) -> None:
    """5,000 random grievances and suggestions: the lead exists, sits in the region where the
    matter arose or above it, is never an excluded unit, and is not among its co-handlers."""
    rng = random.Random(7)
    regions = RegionDirectory.default()
    rules = Rules.default()
    outcomes = {"routed": 0, "diverted": 0, "triage": 0}
    for _ in range(5000):
        matter = rng.choice(units).region_code
        category = rng.choice(CATEGORIES)
        first = decide(
            region_code=matter,
            category=category,
            kind=rng.choice(("grievance", "suggestion")),
            accused_unit_id=None,
            headcount=1,
            text="",
            directory=directory,
        )
        # the first choice (and sometimes its co-handlers) object; route again
        excluded = {first.lead_unit_id} if first.lead_unit_id else set()
        excluded |= {u for u in first.co_unit_ids if rng.random() < 0.5}
        d = decide(
            region_code=matter,
            category=category,
            kind="grievance",
            accused_unit_id=None,
            headcount=1,
            text="",
            directory=directory,
            excluded_unit_ids=frozenset(excluded),
        )
        for decision, barred in ((first, set()), (d, excluded)):
            outcomes[decision.outcome] += 1
            assert decision.lead_unit_id in by_id, decision
            lead = by_id[decision.lead_unit_id]
            above, region = set(), matter
            while region:
                above.add(region)
                region = _parent_region(regions, region)
            assert lead.region_code in above, decision
            assert lead.id not in barred and not set(decision.co_unit_ids) & (barred | {lead.id})
            assert all(u in by_id for u in decision.co_unit_ids)
            assert (decision.outcome == "diverted") == (
                category == "litigation" and lead.function == "political_legal"
            )
            if decision.outcome == "triage":
                assert lead.function == "petition_bureau"
            elif decision.outcome == "routed":
                rule = rules.categories[category]
                remit = directory.remit.get(rule.lead)
                assert lead.function in (rule.lead, remit, "township"), decision
    assert min(outcomes.values()) > 300


# -- themed channels: routing overrides (专题通道) -----------------------------------------------


def test_channel_override_names_the_lead_and_says_so(directory: Directory) -> None:
    usual = route(directory, category="health")
    assert usual.lead_unit_id == "110107:health"
    d = route(directory, category="health", override_unit_id="110000:health")
    assert (d.outcome, d.lead_unit_id, d.level, d.co_unit_ids) == (
        "routed",
        "110000:health",
        "province",
        (),
    )
    assert {
        "step": "override",
        "unit": "110000:health",
        "why": "the themed channel's routing override",
    } in d.path


def test_channel_override_gives_way_to_objections_unknown_units_accusations_and_litigation(
    directory: Directory,
) -> None:
    objected = route(
        directory,
        category="health",
        override_unit_id="110000:health",
        excluded_unit_ids=frozenset({"110000:health"}),
    )
    assert objected.lead_unit_id == "110107:health"
    assert any(p.get("why", "").startswith("objected to this case") for p in objected.path)
    unknown = route(directory, category="health", override_unit_id="99:nothing")
    assert unknown.lead_unit_id == "110107:health"
    accusation = route(
        directory, category="misconduct", kind="accusation", override_unit_id="110000:health"
    )
    assert accusation.lead_unit_id != "110000:health"
    diverted = route(directory, category="litigation", override_unit_id="110000:health")
    assert diverted.outcome == "diverted"
