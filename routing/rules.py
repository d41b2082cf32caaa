"""Routing rules as pure functions. The foundation rule: the petition bureau of the county
where the matter arose (TAXONOMY.md unit ids ``<county>:petition_bureau``). The full rules of
the Regulation (territory x function x level, accusations, diversion) replace it later."""

from __future__ import annotations

from dataclasses import dataclass

from shared.vocabulary import county_of


@dataclass(frozen=True)
class Decision:
    unit_id: str
    function: str
    region_code: str
    level: str
    rule: str
    explanation: str


def region_level(code: str) -> str:
    code = code.ljust(12, "0")
    if code[2:6] == "0000":
        return "province"
    if code[4:6] == "00":
        return "prefecture"
    return "county"


def route(region_code: str) -> Decision:
    county = county_of(region_code)
    return Decision(
        unit_id=f"{county}:petition_bureau",
        function="petition_bureau",
        region_code=county,
        level=region_level(county),
        rule="territory.county_petition_bureau",
        explanation=(
            f"属地管理: the matter arose in region {region_code}; the petition bureau of "
            f"{county} registers and forwards it"
        ),
    )
