"""The national unit directory: every (region, function) unit, generated from the region data.

Pure: no database (a later step stores the result). A unit is a region and a function at one
level (TAXONOMY.md, "Units"); its id is ``<region code, shortest form>:<function>``
(``110107:housing``, ``110107011:township``, ``000000:hrss``) and its name is the region's name
followed by the function's name at that level, from the table in ``routing/data/unit_names.json``
(an operator may change it):

- national (``000000``): one unit per function under its real central name (人力资源社会保障部,
  国家信访局, 中央纪委国家监委, 中央政法委 ...). ``urban_management`` has no national unit
  (住房和城乡建设部 holds the remit) and ``township`` exists only at township level.
- province: 厅 for departments, 委员会 / 局 where real provinces use them
  (辽宁省人力资源和社会保障厅, 辽宁省卫生健康委员会, 辽宁省医疗保障局, 辽宁省信访局,
  辽宁省纪委监委, 辽宁省委政法委; 自治区党委政法委). Provinces have no city-management
  department (their 住房和城乡建设厅 supervises it), so no ``urban_management`` unit; the four
  municipalities have one, and their own 局 / 委 names (北京市住房和城乡建设委员会,
  北京市规划和自然资源委员会), some inherited by their districts (石景山区住房和城乡建设委员会).
- prefecture and county: 局 / 委 (沈阳市人力资源和社会保障局, 浑南区农业农村局,
  XX区卫生健康委员会, XX区城市管理局, XX县纪委监委, XX县委政法委; a 地区 has a 地委:
  阿克苏地委政法委). A district's police is a branch of its city's bureau
  (沈阳市公安局浑南区分局; 北京市公安局石景山分局).
- township: one ``township`` unit each, the 街道办事处 (鲁谷街道办事处) or 乡镇 / 苏木 人民政府.
  Townships directly under a prefecture-level city without counties (东莞, 中山, 儋州, 嘉峪关)
  are handled the same way, under that city.
- 台湾省, 香港 and 澳门 (listed in the table as ``excluded``) have no petition units.

``parent_id`` is the unit of the same function in the parent region (county -> prefecture ->
province -> national; a county directly under a province, such as a municipal district, goes
straight to the province). Where the parent region has no unit of that function, the unit with
the remit there stands in (a city's ``urban_management`` -> the province's ``housing``), else
the search goes on upwards. A township government's parent is the petition bureau of the region
above it: there is no "government" function, and the county 信访局 is what registers, assigns
and supervises the township's cases. National units have no parent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from shared.regions import Region, RegionDirectory
from shared.vocabulary import FUNCTIONS

NATIONAL = "000000"
LEVELS = ("national", "province", "prefecture", "county", "township")

# A suffix: appended as is, or ((ending, replacement), ...) longest ending first.
Suffix = str | tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Unit:
    id: str  # "110107:housing", "110107011:township", "000000:hrss"
    name: str  # "石景山区住房和城乡建设委员会"
    region_code: str  # shortest form that keeps the level: "000000", "210000", "110107011"
    level: str  # national | province | prefecture | county | township
    function: str  # one of shared.vocabulary.FUNCTIONS
    parent_id: str | None  # see the module docstring


def _suffix(value: str | Mapping[str, str]) -> Suffix:
    if isinstance(value, str):
        return value
    return tuple(sorted(value.items(), key=lambda item: -len(item[0])))


def _apply(name: str, suffix: Suffix) -> str:
    if isinstance(suffix, str):
        return name + suffix
    for ending, replacement in suffix:
        if name.endswith(ending):
            return name[: len(name) - len(ending)] + replacement
    raise ValueError(f"no suffix for {name!r}: add a '' entry")


class UnitNames:
    """The naming table (format in ``routing/data/unit_names.json``, key ``_doc``)."""

    def __init__(self, table: Mapping) -> None:
        known = set(FUNCTIONS)
        self.national: dict[str, str] = dict(table["national"])
        self.levels: dict[str, dict[str, Suffix]] = {
            level: {f: _suffix(v) for f, v in table[level].items()} for level in LEVELS[1:]
        }
        self.overrides: dict[str, dict[str, dict[str, Suffix]]] = {}
        self.branch_stem: set[str] = set()
        for code, entry in table.get("overrides", {}).items():
            self.overrides[code] = {
                part: {f: _suffix(v) for f, v in entry.get(part, {}).items()}
                for part in ("self", "children")
            }
            if entry.get("branch_stem"):
                self.branch_stem.add(code)
        self.remit: dict[str, str] = dict(table.get("remit", {}))
        self.township_parent: str = table.get("township_parent", "petition_bureau")
        self.branches: dict[str, tuple[str, ...]] = {
            f: tuple(spec.get("endings", ())) for f, spec in table.get("branches", {}).items()
        }
        self.municipalities = frozenset(table.get("municipalities", ()))
        self.excluded = frozenset(table.get("excluded", ()))
        used = set(self.national) | set(self.remit) | set(self.remit.values()) | set(self.branches)
        for suffixes in self.levels.values():
            used |= set(suffixes)
        for entry in self.overrides.values():
            used |= set(entry["self"]) | set(entry["children"])
        if unknown := used - known:
            raise ValueError(f"unit names: unknown functions {sorted(unknown)}")
        self._merged: dict[tuple[str, str | None, str | None], dict[str, Suffix]] = {}

    @classmethod
    @cache
    def default(cls) -> UnitNames:
        data = resources.files("routing.data").joinpath("unit_names.json").read_bytes()
        return cls(json.loads(data))

    @classmethod
    def from_file(cls, path: str | Path) -> UnitNames:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    def suffixes(self, level: str, code: str | None, parent_code: str | None) -> dict[str, Suffix]:
        """Function -> suffix for a region (short codes, None when unknown)."""
        own = code if code in self.overrides else None
        above = parent_code if level == "county" and parent_code in self.overrides else None
        key = (level, own, above)
        if key not in self._merged:
            merged = dict(self.levels[level])
            if above:
                merged.update(self.overrides[above]["children"])
            if own:
                merged.update(self.overrides[own]["self"])
            self._merged[key] = merged
        return self._merged[key]

    def branch(self, name: str, function: str, parent: Region | None) -> bool:
        """Whether a county unit is named as a branch of its parent city's unit."""
        if function not in self.branches or parent is None:
            return False
        endings = self.branches[function]
        if endings and not name.endswith(endings):
            return False
        return parent.level == "prefecture" or parent.code[:6] in self.municipalities

    def branch_name(self, name: str, parent_code: str) -> str:
        """浑南区 -> 浑南区; under a city with ``branch_stem``: 石景山区 -> 石景山,
        浦东新区 -> 浦东."""
        if parent_code in self.branch_stem:
            for ending in ("新区", "区"):
                if name.endswith(ending) and len(name) - len(ending) >= 2:
                    return name[: -len(ending)]
        return name

    def name(
        self,
        region_name: str,
        level: str,
        function: str,
        *,
        region_code: str | None = None,
        parent: Region | None = None,
    ) -> str | None:
        """The unit's name; None when the level has no unit of this function."""
        if level == "national":
            return self.national.get(function)
        return self.region(region_name, level, region_code, parent).get(function)

    def region(
        self,
        region_name: str,
        level: str,
        region_code: str | None = None,
        parent: Region | None = None,
    ) -> dict[str, str]:
        """Function -> unit name for every unit of a region, in FUNCTIONS order."""
        if level == "national":
            return {f: self.national[f] for f in FUNCTIONS if f in self.national}
        if level not in self.levels:
            raise ValueError(f"unknown level {level!r}")
        parent_code = parent.code[:6] if parent else None
        code = region_code[: 9 if level == "township" else 6] if region_code else None
        suffixes = self.suffixes(level, code, parent_code)
        out = {}
        for function in FUNCTIONS:
            suffix = suffixes.get(function)
            if suffix is None:
                continue
            if level == "county" and self.branch(region_name, function, parent):
                city = self.name(parent.name, parent.level, function, region_code=parent.code)
                if city:
                    out[function] = f"{city}{self.branch_name(region_name, parent_code)}分局"
                    continue
            out[function] = _apply(region_name, suffix)
        return out


def unit_name(
    region_name: str,
    level: str,
    function: str,
    *,
    region_code: str | None = None,
    parent: Region | None = None,
) -> str:
    """The name of a unit from the default table.

    ``region_code`` (6, 9 or 12 digits) selects a region's own naming (the municipalities);
    ``parent`` (the region above) selects inherited naming and branches (沈阳市公安局浑南区分局).
    Without them the general rule for the level applies. ValueError when the level has no unit
    of this function (national ``urban_management``, province ``township``, ...)."""
    name = UnitNames.default().name(
        region_name, level, function, region_code=region_code, parent=parent
    )
    if name is None:
        raise ValueError(f"no {function} unit at {level} level")
    return name


def generate(
    regions: RegionDirectory | Iterable[Region] | None = None,
    *,
    names: UnitNames | None = None,
) -> list[Unit]:
    """Every unit: the national ones, then region by region in code order (a parent region and
    its units come before its children), functions in FUNCTIONS order."""
    regions = RegionDirectory.default() if regions is None else regions
    names = UnitNames.default() if names is None else names
    ordered = sorted(regions, key=lambda r: r.code)
    by_code = {r.code: r for r in ordered}

    units: list[Unit] = []
    # region code (12 digits, NATIONAL for the centre) -> function -> unit id
    present: dict[str, dict[str, str]] = {NATIONAL: {}}
    for function, name in names.region("中华人民共和国", "national").items():
        uid = f"{NATIONAL}:{function}"
        units.append(Unit(uid, name, NATIONAL, "national", function, None))
        present[NATIONAL][function] = uid

    def up(code: str | None, function: str) -> str | None:
        """The unit of this function (or the one with its remit) in this region or above."""
        remit = names.remit.get(function)
        while True:
            here = present.get(code or NATIONAL, {})
            if uid := here.get(function) or (remit and here.get(remit)):
                return uid
            if code is None:
                return None
            code = by_code[code].parent if code in by_code else None

    skipped: set[str] = set()
    for region in ordered:
        short = region.short
        if short in names.excluded or region.parent in skipped:
            skipped.add(region.code)
            continue
        parent = by_code.get(region.parent) if region.parent else None
        here = present[region.code] = {}
        wanted = names.township_parent if region.level == "township" else None
        for function, name in names.region(region.name, region.level, short, parent).items():
            uid = f"{short}:{function}"
            parent_id = up(region.parent, wanted or function)
            units.append(Unit(uid, name, short, region.level, function, parent_id))
            here[function] = uid
    return units
