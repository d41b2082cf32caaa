"""Routing rules as pure functions. The foundation rule: the petition bureau of the county
where the matter arose (TAXONOMY.md unit ids ``<county>:petition_bureau``); litigation-related
matters are diverted to the county's political-legal committee (诉访分离). The full rules of
the Regulation (territory x function x level, accusations) replace this later."""

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
    divert: bool = False


def region_level(code: str) -> str:
    code = code.ljust(12, "0")
    if code[2:6] == "0000":
        return "province"
    if code[4:6] == "00":
        return "prefecture"
    return "county"


def route(region_code: str, category: str | None = None) -> Decision:
    county = county_of(region_code)
    if category == "litigation":
        return Decision(
            unit_id=f"{county}:political_legal",
            function="political_legal",
            region_code=county,
            level=region_level(county),
            rule="diversion.litigation",
            explanation=(
                "诉访分离: a litigation-related matter is not handled as a petition; "
                f"it goes to the political-legal committee of {county}"
            ),
            divert=True,
        )
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
