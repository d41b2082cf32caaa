"""Jurisdiction: which unit handles a petition (PROCEDURE.md §3-§4, TAXONOMY.md "Level").

Pure: :func:`decide` reads only its arguments, an in-memory :class:`Directory` of units and the
:class:`Rules` table (``routing/data/routing_rules.json``, loaded once); routing's handler
calls it for every submitted petition. The rules, in the order they apply:

1. **Region.** The region where the matter arose (6, 9 or 12 digits). A code the region data
   does not know is read as the nearest enclosing region it does know (a village as its
   township, a township of 东莞 as 东莞市); an abolished code as its single successor (several
   successors: triage); ``000000`` as the national centre. Nothing known -> triage with no unit
   (an operator must place it). The *handling region* is the county
   of a township, else the region itself: a prefecture-level city without counties (东莞 441900,
   中山 442000, 儋州 460400, 嘉峪关 620200) handles county-level matters itself.
2. **Accusations** (kind ``accusation`` or category ``misconduct``; never diverted): the
   discipline organ with authority over the accused unit (Art. 30): the one of its own region;
   one level up when the accused is a discipline organ or a township government (there is no
   "government" function; a township has no discipline unit of its own either). "One level up"
   is the nearest region above that has a discipline unit (北京's districts -> 北京市). With no
   accused unit, the organ of the handling region. Never the accused unit, its successors or an
   excluded unit; no co-handling units (the materials stay with the discipline organ, Art. 46).
3. **Litigation**: diverted to the handling region's political-legal committee (诉访分离).
4. **Other** (and unknown categories, and ``policy`` without a topic): triage at the handling
   region's petition bureau, or the nearest one above.
5. **Territory x function x level**: the category's lead function at the handling region; a
   ``local`` category arising in a township goes to that township's government, the county unit
   of the lead function co-handling. An operator override (longest region prefix) may change the
   function or the level. A concerned unit (``accused_unit_id`` of a grievance or suggestion)
   above county level lifts the matter to its region ("it goes higher when the concerned unit
   itself is at a higher level"). A region without a unit of the function passes the matter up
   (prefecture, then province; a function's remit holder stands in: ``urban_management`` ->
   ``housing``). Co-handling units: the "often also" functions at the handling region (the
   township function at the township where the matter arose), only where such units exist.
6. **Objections** (``excluded_unit_ids``, Art. 23): a unit that objected is not chosen again;
   the next competent unit is the same function one level up (a township government's: the
   county unit of the lead function). If that one objected too, or there is none, triage.
7. **Major** (Art. 22(1), 25): a head count at the threshold or a keyword in the text sets
   ``major``; the petition bureau at the lead's level (nearest above a township) is notified.

Retired units are replaced by their successors (Art. 24) through ``Directory(successor_of=...)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

from routing.directory import NATIONAL, Unit, UnitNames, generate
from shared.regions import RegionDirectory
from shared.vocabulary import FUNCTIONS, KINDS

LEVELS = ("national", "province", "prefecture", "county", "township")
_RANK = {level: i for i, level in enumerate(LEVELS)}  # lower is higher
HANDLINGS = ("route", "accusation", "divert", "triage", "by_topic")
OVERRIDE_LEVELS = ("township", "county", "prefecture", "province")
OBJECTED = "objected to jurisdiction (Art. 23): not chosen again"
ACCUSED = "the accused unit (Art. 30): never handles or sees the accusation"
ACCUSED_SUCCESSOR = "successor of the accused unit (Art. 24, 30)"

Outcome = Literal["routed", "diverted", "triage"]


# -- rules (data) -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CategoryRule:
    lead: str | None
    also: tuple[str, ...] = ()
    local: bool = False
    handling: str = "route"


@dataclass(frozen=True)
class Override:
    region: str  # a code prefix: "3205"
    category: str
    function: str | None = None
    level: str | None = None


@dataclass(frozen=True, eq=False)
class Rules:
    """The operator's table (format: ``_doc`` in ``routing/data/routing_rules.json``)."""

    categories: Mapping[str, CategoryRule]
    overrides: tuple[Override, ...]
    keywords: tuple[str, ...]
    headcount: int

    @classmethod
    def from_mapping(cls, data: Mapping) -> Rules:
        """Checked: a typo in the table must fail at start-up, not misroute petitions."""
        known = set(FUNCTIONS)
        categories = {}
        for code, entry in data["categories"].items():
            rule = CategoryRule(
                lead=entry.get("lead"),
                also=tuple(entry.get("also", ())),
                local=bool(entry.get("local", False)),
                handling=entry.get("handling", "route"),
            )
            if rule.handling not in HANDLINGS:
                raise ValueError(f"routing rules: {code}: unknown handling {rule.handling!r}")
            if rule.lead is None and rule.handling != "by_topic":
                raise ValueError(f"routing rules: {code}: needs a lead function")
            if unknown := {f for f in (rule.lead, *rule.also) if f is not None} - known:
                raise ValueError(f"routing rules: {code}: unknown functions {sorted(unknown)}")
            categories[code] = rule
        overrides = []
        for entry in data.get("overrides", ()):
            item = Override(
                str(entry["region"]), entry["category"], entry.get("function"), entry.get("level")
            )
            rule = categories.get(item.category)
            if not item.region.isdigit() or len(item.region) not in (2, 4, 6, 9):
                raise ValueError(f"routing rules: override region {item.region!r}: 2-9 digits")
            if rule is None or rule.handling in ("accusation", "divert"):
                raise ValueError(f"routing rules: override category {item.category!r}")
            if item.function is not None and item.function not in known:
                raise ValueError(f"routing rules: override function {item.function!r}")
            if item.level is not None and item.level not in OVERRIDE_LEVELS:
                raise ValueError(f"routing rules: override level {item.level!r}")
            if item.function is None and item.level is None:
                raise ValueError(f"routing rules: override {entry} changes nothing")
            overrides.append(item)
        # longest prefix first, so the first match is the most specific
        overrides.sort(key=lambda o: -len(o.region))
        major = data.get("major", {})
        return cls(
            categories=categories,
            overrides=tuple(overrides),
            keywords=tuple(major.get("keywords", ())),
            headcount=int(major.get("headcount", 50)),
        )

    @classmethod
    @cache
    def default(cls) -> Rules:
        data = resources.files("routing.data").joinpath("routing_rules.json").read_bytes()
        return cls.from_mapping(json.loads(data))

    @classmethod
    def from_file(cls, path: str | Path) -> Rules:
        return cls.from_mapping(json.loads(Path(path).read_text(encoding="utf-8")))

    def override(self, code12: str, category: str) -> Override | None:
        for item in self.overrides:
            if item.category == category and code12.startswith(item.region):
                return item
        return None


# -- directory ----------------------------------------------------------------------------------


class Directory:
    """Units by id and by (region short code, function), and the region tree they sit in.

    ``successor_of`` maps a retired unit's id to its successor's (Art. 24): a retired unit is
    never chosen, its successor (followed to the end of the chain) is. ``remit`` names the
    function that stands in where a level has no unit of another (``urban_management`` ->
    ``housing``); by default the naming table's."""

    def __init__(
        self,
        units: Iterable[Unit],
        *,
        successor_of: Mapping[str, str] | None = None,
        regions: RegionDirectory | None = None,
        remit: Mapping[str, str] | None = None,
    ) -> None:
        self.regions = RegionDirectory.default() if regions is None else regions
        self.remit = dict(UnitNames.default().remit if remit is None else remit)
        self.successor_of = dict(successor_of or {})
        self._units: dict[str, Unit] = {}
        self._at: dict[tuple[str, str], list[str]] = {}
        for unit in units:
            self._units[unit.id] = unit
            self._at.setdefault((unit.region_code, unit.function), []).append(unit.id)
        self._parent: dict[str, str | None] = {NATIONAL: None}
        self._level: dict[str, str] = {NATIONAL: "national"}
        shorts = {r.code: r.short for r in self.regions}
        for region in self.regions:
            self._parent[region.short] = shorts[region.parent] if region.parent else NATIONAL
            self._level[region.short] = region.level
        self._chains: dict[str, tuple[str, ...]] = {}

    @classmethod
    def generated(cls, successor_of: Mapping[str, str] | None = None) -> Directory:
        """Over the generated national directory (about a second)."""
        return cls(generate(), successor_of=successor_of)

    def __len__(self) -> int:
        return len(self._units)

    def units(self) -> list[Unit]:
        """The active units."""
        return list(self._units.values())

    def get(self, unit_id: str) -> Unit | None:
        return self._units.get(unit_id)

    def level(self, region: str) -> str | None:
        return self._level.get(region)

    def parent(self, region: str) -> str | None:
        return self._parent.get(region)

    def chain(self, region: str) -> tuple[str, ...]:
        """The region and the regions above it, up to the national centre."""
        if region not in self._chains:
            parent = self._parent.get(region)
            self._chains[region] = (region,) + (self.chain(parent) if parent else ())
        return self._chains[region]

    def lineage(self, unit_id: str) -> tuple[str, ...]:
        """The unit and its successors in order; the last one is in office."""
        out = [unit_id]
        while (nxt := self.successor_of.get(out[-1])) is not None and nxt not in out:
            out.append(nxt)
        return tuple(out)

    def review_chain(self, unit_id: str | None) -> tuple[str, ...]:
        """Who reviews this unit's reply (Art. 35) and who re-reviews that (Art. 36): its
        parent in the directory (the same function one level up, a township's county bureau),
        then that one's parent; successors stand in for retired units; shorter at the top."""
        chain: list[str] = []
        current = unit_id
        while current and len(chain) < 2:
            unit = self.get(current)
            parent = unit.parent_id if unit else None
            if parent is None:
                break
            parent = self.lineage(parent)[-1]
            if self.get(parent) is None:
                break
            chain.append(parent)
            current = parent
        return tuple(chain)

    def find(self, region: str, function: str) -> tuple[Unit, tuple[str, ...]] | None:
        """The unit in office for this function in this region (or the remit holder's), with
        the retired ids it replaces."""
        for wanted in (function, self.remit.get(function)):
            for uid in self._at.get((region, wanted), ()) if wanted else ():
                *retired, current = self.lineage(uid)
                unit = self._units.get(current)
                if unit is not None and current not in self.successor_of:
                    return unit, tuple(retired)
        return None


# -- the decision -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoutingDecision:
    outcome: Outcome
    lead_unit_id: str | None
    co_unit_ids: tuple[str, ...]
    function: str
    level: str  # the lead's level; "" when no unit could be named
    region_code: str  # shortest form of the region whose unit handles it
    major: bool  # major/urgent: the same-level petition bureau is told
    notify_unit_ids: tuple[str, ...]
    path: tuple[dict, ...]  # each step: {"step": ..., ...}, strings only
    excluded: tuple[tuple[str, str], ...]  # (unit id, why)


@dataclass
class _Place:
    region: str | None  # short code of the region the matter is read as arising in
    township: str | None  # that region when it is a township
    handling: str | None  # the county of a township, else the region
    split: bool  # an abolished code with several successors: a person must choose


class _Run:
    """One decision's working state: the trail it leaves and the units it must not choose."""

    def __init__(self, directory: Directory, rules: Rules, excluded: frozenset[str]) -> None:
        self.d, self.rules = directory, rules
        self.path: list[dict] = []
        self.excluded: dict[str, str] = {uid: OBJECTED for uid in sorted(excluded)}

    def note(self, step: str, **details: str) -> None:
        self.path.append({"step": step, **details})

    def ban(self, uid: str, why: str) -> None:
        """Bars an accused unit: Art. 30 is the reason recorded even if it also objected."""
        self.excluded[uid] = why

    def take(self, found: tuple[Unit, tuple[str, ...]] | None, role: str) -> Unit | None:
        """A found unit unless it may not be chosen; notes the retired units it replaces."""
        if found is None:
            return None
        unit, retired = found
        for old in retired:
            self.note("successor", retired=old, unit=unit.id, why="reorganised unit (Art. 24)")
        if unit.id in self.excluded:
            self.note("skip", unit=unit.id, role=role, why=self.excluded[unit.id])
            return None
        return unit

    def nearest(
        self, function: str, regions: tuple[str, ...]
    ) -> tuple[tuple[Unit, tuple[str, ...]], int] | None:
        """The first unit of the function along the regions (a region without one passes the
        matter up) and its position; it may be barred: the caller decides what then."""
        for i, region in enumerate(regions):
            if (found := self.d.find(region, function)) is not None:
                if i:
                    self.note(
                        "up",
                        function=function,
                        region=regions[0],
                        unit=found[0].id,
                        why="no unit of this function in the region: the level above",
                    )
                return found, i
        return None

    def competent(
        self, function: str, regions: tuple[str, ...], role: str, *, step: bool = True
    ) -> Unit | None:
        """The nearest unit of the function; if it objected or is barred, the same function one
        level up (Art. 23) when ``step``; never further: then a person decides (triage)."""
        first = self.nearest(function, regions)
        if first is None:
            self.note("none", function=function, region=regions[0] if regions else "")
            return None
        found, i = first
        if (unit := self.take(found, role)) is not None or not step:
            return unit
        second = self.nearest(function, regions[i + 1 :])
        if second is None:
            self.note("none", function=function, after=found[0].id, why="no unit above")
            return None
        if (unit := self.take(second[0], role)) is not None:
            self.note("next", unit=unit.id, instead_of=found[0].id, why="one level up")
        return unit

    def bureau(self, regions: tuple[str, ...]) -> Unit | None:
        """The nearest petition bureau not barred: triage must land somewhere."""
        for region in regions:
            unit = self.take(self.d.find(region, "petition_bureau"), "petition bureau")
            if unit is not None:
                return unit
        return None


def _place(run: _Run, region_code: str) -> _Place:
    """Where the matter arose, as a region the data knows: the code itself, else its single
    successor if abolished, else the nearest enclosing region (a village -> its township)."""
    regions = run.d.regions
    code = region_code.strip() if isinstance(region_code, str) else ""
    if not (code.isdigit() and len(code) in (6, 9, 12)):
        run.note("region", input=repr(region_code), why="not a 6, 9 or 12 digit region code")
        return _Place(None, None, None, False)
    code = code.ljust(12, "0")
    if code == NATIONAL.ljust(12, "0"):  # the centre itself: a matter of the national units
        run.note("region", region=NATIONAL, level="national", handling=NATIONAL)
        return _Place(NATIONAL, None, NATIONAL, False)
    split = False
    enclosing = (code[:9] + "000", code[:6] + "0" * 6, code[:4] + "0" * 8, code[:2] + "0" * 10)
    for candidate in dict.fromkeys((code, *enclosing)):
        region = regions.get(candidate)
        if region is None and (gone := regions.abolished(candidate)) is not None:
            current = [s for s in gone.successors if regions.get(s) is not None]
            if len(current) == 1:
                region = regions.get(current[0])
                run.note("region", abolished=candidate, successor=region.short, why=gone.name)
            elif current:
                split = True
                run.note("region", abolished=candidate, why="several successors: triage")
        if region is None:
            continue
        if candidate != code:
            run.note("region", input=code, nearest=region.short, why="nearest known region")
        township = region.short if region.level == "township" else None
        handling = run.d.parent(region.short) if township else region.short
        run.note("region", region=region.short, level=region.level, handling=handling or "")
        return _Place(region.short, township, handling, split)
    run.note("region", input=code, why="no enclosing region in the region data")
    return _Place(None, None, None, split)


def _territory(d: Directory, region: str) -> tuple[str, ...]:
    """Regions a grievance may climb: up to the province; national only if it starts there."""
    chain = d.chain(region)
    return chain if region == NATIONAL else chain[:-1]


def _accused(run: _Run, accused_unit_id: str) -> tuple[str | None, str]:
    """The accused unit's region and function (read from its id when the directory does not
    hold it); bars it and its successors."""
    d = run.d
    run.ban(accused_unit_id, ACCUSED)
    for uid in d.lineage(accused_unit_id)[1:]:
        run.ban(uid, ACCUSED_SUCCESSOR)
    unit = d.get(accused_unit_id)
    if unit is not None:
        return unit.region_code, unit.function
    region, _, rest = accused_unit_id.partition(":")
    run.note("accused", unit=accused_unit_id, why="not in the directory: read from its id")
    return (region if d.level(region) else None), rest.partition(":")[0]


def _accusation(
    run: _Run, place: _Place, accused_unit_id: str | None
) -> tuple[Outcome, Unit | None]:
    d = run.d
    start = place.handling
    why = "no accused unit named: the discipline organ of the region where it arose"
    if accused_unit_id:
        region, function = _accused(run, accused_unit_id)
        if region is None:
            why = "the accused unit's region is unknown: the region where the matter arose"
        elif function in ("discipline", "township"):
            start = d.parent(region)
            why = (
                "the accused is a discipline organ: the one a level up (Art. 30)"
                if function == "discipline"
                else "the accused is a township government: the discipline organ a level up"
            )
            if start is None:
                run.note("rule", rule="accusation", why="no level above the accused: triage")
                return "triage", run.bureau(d.chain(region))
        else:
            start = region
            why = "the discipline organ of the accused unit's own region and level (Art. 30)"
    if start is None:
        return "triage", None
    run.note("rule", rule="accusation", start=start, why=why)
    lead = run.competent("discipline", d.chain(start), "discipline organ")
    if lead is None:
        run.note("rule", rule="triage", why="no discipline organ left: the petition bureau")
        return "triage", run.bureau(d.chain(start))
    return "routed", lead


def _topic(rules: Rules, topic: str | None) -> str | None:
    """A policy suggestion's topic: a function, or a category standing for its lead."""
    if topic in FUNCTIONS:
        return topic
    rule = rules.categories.get(topic) if topic else None
    return rule.lead if rule and rule.handling == "route" else None


def _route(
    run: _Run, place: _Place, category: str, accused_unit_id: str | None, topic: str | None
) -> tuple[Outcome, Unit | None, tuple[str, ...]]:
    """Territory x function x level, for grievances and suggestions."""
    d, rules = run.d, run.rules
    rule = rules.categories.get(category)
    if rule is None or rule.handling == "triage":
        why = "no routing rule for it" if rule is None else "the petition bureau names the unit"
        run.note("rule", rule="triage", category=category, why=why)
        return "triage", None, ()
    handling, township = place.handling, place.township
    concerned = d.get(accused_unit_id) if accused_unit_id else None
    if concerned and _RANK[concerned.level] < _RANK[d.level(handling) or "county"]:
        # TAXONOMY "Level": it goes higher when the concerned unit itself is higher
        handling, township = concerned.region_code, None
        run.note("level", region=handling, why=f"the concerned unit {concerned.id} is higher")
    territory = _territory(d, handling)
    if rule.handling == "divert":
        run.note("rule", rule="diversion", why="litigation-related: 诉访分离, not a petition")
        lead = run.competent(rule.lead, territory, "political-legal committee")
        if lead is None:
            run.note("rule", rule="triage", why="no political-legal committee left")
            return "triage", None, ()
        return "diverted", lead, ()
    function = rule.lead if rule.handling == "route" else _topic(rules, topic)
    if function is None:
        run.note("rule", rule="triage", why=f"{category}: by topic, and no topic given")
        return "triage", None, ()
    local = rule.local or function == "township"
    override = rules.override(d.regions.normalize(place.region), category)
    if override is not None:
        run.note(
            "override",
            region=override.region,
            function=override.function or "",
            level=override.level or "",
            why="the operator's rule for this region",
        )
        if "township" in (override.function, override.level):
            local = True
        elif override.function:
            function, local = override.function, False
        if override.level not in (None, "township"):
            local = False
            climb = [r for r in territory if _RANK[d.level(r)] <= _RANK[override.level]]
            if climb and climb[0] != handling:
                handling, territory = climb[0], tuple(climb)
                run.note("level", region=handling, why=f"the operator's rule: {override.level}")
    if function == "township":
        function = rule.lead if rule.handling == "route" else None
    run.note("lead_function", category=category, function=function or "township")
    lead = None
    if local and township:
        run.note("level", region=township, why="a local matter in a township: its government")
        found = d.find(township, "township")
        lead = run.take(found, "handling unit")
        if lead is None and function:
            # the township objected: its county's unit is next; missing: the default rule
            lead = run.competent(function, territory, "handling unit", step=found is None)
    elif function:
        if local:
            run.note("level", region=handling, why="local, but the region is not a township")
        lead = run.competent(function, territory, "handling unit")
    if lead is None:
        run.note("rule", rule="triage", why="no competent unit left: the petition bureau")
        return "triage", None, ()
    co_functions = [rule.lead] if lead.function == "township" and rule.lead else []
    co: list[str] = []
    for fn in dict.fromkeys(co_functions + list(rule.also)):
        region = township if fn == "township" else handling
        found = d.find(region, fn) if region else None
        if found is None:
            run.note("co_skip", function=fn, region=region or "", why="no such unit there")
        elif (unit := run.take(found, "co-handling unit")) and unit.id != lead.id:
            co.append(unit.id)
    return "routed", lead, tuple(dict.fromkeys(co))


def decide(
    *,
    region_code: str,
    category: str,
    kind: str,
    accused_unit_id: str | None,
    headcount: int,
    text: str,
    directory: Directory,
    excluded_unit_ids: frozenset[str] = frozenset(),
    rules: Rules | None = None,
    topic: str | None = None,
    override_unit_id: str | None = None,
) -> RoutingDecision:
    """The unit that handles one petition, its co-handlers, and why (module docstring).

    ``override_unit_id``: the unit a themed channel's routing override names (专题通道). It
    replaces the rules' lead when it is an active unit that has not objected, except for an
    accusation (its reporter's protection decides) and a litigation-related matter (diverted).

    ``topic`` (a function or category code) says what a ``policy`` suggestion is about.
    ``accused_unit_id``: for an accusation, the unit accused; for other kinds, the unit the
    matter concerns. ``excluded_unit_ids``: units that objected to this case already."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    rules = Rules.default() if rules is None else rules
    run = _Run(directory, rules, frozenset(excluded_unit_ids))
    place = _place(run, region_code)
    co: tuple[str, ...] = ()
    if kind == "accusation" or rules.categories.get(category, _NO_RULE).handling == "accusation":
        run.note("category", category=category, kind=kind, rule="accusation (Art. 30)")
        outcome, lead = _accusation(run, place, accused_unit_id)
        if outcome == "triage" and lead is None and place.handling:
            lead = run.bureau(directory.chain(place.handling))
    elif place.handling is None:
        outcome, lead = "triage", None
    else:
        run.note("category", category=category, kind=kind)
        outcome, lead, co = _route(run, place, category, accused_unit_id, topic)
        if place.split and outcome != "triage":
            run.note("rule", rule="triage", why="the region was split: a person must choose")
            outcome, lead, co = "triage", None, ()
        if outcome == "triage":
            lead = run.bureau(directory.chain(place.handling))
    if override_unit_id and kind != "accusation" and outcome != "diverted":
        named = directory.get(override_unit_id)
        if named is None or named.id in run.excluded:
            why = "objected to this case" if named else "not an active unit"
            run.note("override", unit=override_unit_id, why=f"{why}: the rules decide")
        else:
            run.note("override", unit=named.id, why="the themed channel's routing override")
            outcome, lead, co = "routed", named, ()
    if lead is None:
        run.note("outcome", outcome="triage", why="no unit can be named: manual placement")
    else:
        run.note("lead", unit=lead.id, outcome=outcome)
        for uid in co:
            run.note("co", unit=uid, why="often also (TAXONOMY); only the lead replies")
    major, notify = _major(run, lead, headcount, text)
    return RoutingDecision(
        outcome=outcome,
        lead_unit_id=lead.id if lead else None,
        co_unit_ids=co,
        function=lead.function if lead else "petition_bureau",
        level=lead.level if lead else "",
        region_code=lead.region_code if lead else (place.region or str(region_code)),
        major=major,
        notify_unit_ids=notify,
        path=tuple(run.path),
        excluded=tuple(run.excluded.items()),
    )


def to_bureau(
    *,
    region_code: str,
    accused_unit_id: str | None,
    directory: Directory,
    why: str,
    excluded_unit_ids: frozenset[str] = frozenset(),
) -> RoutingDecision:
    """The petition bureau of the handling region must name the lead unit itself: after the
    transfer cap (anti 踢皮球), or when a case has nothing left to decide from. Never the
    accused unit's bureau if the accusation is about that bureau (it is barred like any other
    accused unit; the bureau above takes it)."""
    run = _Run(directory, Rules.default(), frozenset(excluded_unit_ids))
    place = _place(run, region_code)
    if accused_unit_id:
        _accused(run, accused_unit_id)
    run.note("rule", rule="petition bureau", why=why)
    lead = run.bureau(directory.chain(place.handling)) if place.handling else None
    if lead is None:
        run.note("outcome", outcome="triage", why="no unit can be named: manual placement")
    else:
        run.note("lead", unit=lead.id, outcome="triage")
    return RoutingDecision(
        outcome="triage",
        lead_unit_id=lead.id if lead else None,
        co_unit_ids=(),
        function="petition_bureau",
        level=lead.level if lead else "",
        region_code=lead.region_code if lead else (place.region or str(region_code)),
        major=False,
        notify_unit_ids=(),
        path=tuple(run.path),
        excluded=tuple(run.excluded.items()),
    )


_NO_RULE = CategoryRule(lead=None, handling="triage")


def _major(run: _Run, lead: Unit | None, headcount: int, text: str) -> tuple[bool, tuple]:
    """Many people or danger: the Party committee and government at the lead's level must
    know (Art. 22(1)); their petition bureau stands in for them in the directory."""
    words = [k for k in run.rules.keywords if k in (text or "")]
    many = headcount >= run.rules.headcount
    if not (words or many):
        return False, ()
    run.note("major", headcount=str(headcount), keywords=",".join(words))
    if lead is None:
        return True, ()
    bureau = run.bureau(run.d.chain(lead.region_code))
    if bureau is None or bureau.id == lead.id:
        return True, ()
    run.note("notify", unit=bureau.id, why="major or urgent: the same-level petition bureau")
    return True, (bureau.id,)
