"""Moving a case after its first decision (routing/moves.py): objections re-route without any
unit that objected, the transfer cap hands the case to the petition bureau, and an operator's
choice is held to what the law forbids."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from routing.directory import Unit, generate
from routing.jurisdiction import ACCUSED, Directory
from routing.moves import after_objection, named_by_hand
from shared.errors import Conflict, Invalid

WAGES = {
    "region_code": "110107",
    "category": "wage_arrears",
    "kind": "grievance",
    "accused_unit_id": None,
    "headcount": 1,
}


@pytest.fixture(scope="module")
def units() -> list[Unit]:
    return generate()


@pytest.fixture(scope="module")
def directory(units: list[Unit]) -> Directory:
    return Directory(units)


def again(directory: Directory, inputs=WAGES, objected=(), transfers=0, cap=3, major=False):
    return after_objection(
        inputs=inputs,
        objected=frozenset(objected),
        transfers=transfers,
        cap=cap,
        directory=directory,
        major=major,
        notify_unit_ids=("110107:petition_bureau",) if major else (),
    )


def test_objections_never_return_the_case_to_an_objector(directory: Directory) -> None:
    objected: list[str] = ["110107:hrss"]
    seen = []
    for transfers in range(10):
        decision, cause = again(directory, objected=objected, transfers=transfers, cap=99)
        assert cause == "objection"
        assert decision.lead_unit_id not in objected
        assert not set(decision.co_unit_ids) & set(objected)
        seen.append((decision.outcome, decision.lead_unit_id))
        if decision.outcome == "triage":
            break
        objected.append(decision.lead_unit_id)
    # the county's department, then the same function one level up, then the bureau decides
    assert seen == [("routed", "110000:hrss"), ("triage", "110107:petition_bureau")]


def test_the_transfer_cap_hands_the_case_to_the_petition_bureau(directory: Directory) -> None:
    decision, cause = again(directory, objected=["110107:hrss"], transfers=3, cap=3)
    assert cause == "transfer_cap"
    assert (decision.outcome, decision.lead_unit_id) == ("triage", "110107:petition_bureau")
    assert any("cap 3" in step.get("why", "") for step in decision.path)
    # below the cap the rules decide again
    assert again(directory, objected=["110107:hrss"], transfers=2, cap=3)[1] == "objection"


def test_an_accusation_about_the_bureau_never_lands_at_that_bureau(directory: Directory) -> None:
    inputs = {**WAGES, "kind": "accusation", "category": "misconduct"}
    inputs["accused_unit_id"] = "110107:petition_bureau"
    decision, cause = again(directory, inputs=inputs, objected=["110107:discipline"], transfers=3)
    assert cause == "transfer_cap"
    assert decision.lead_unit_id not in (None, "110107:petition_bureau")
    assert decision.function == "petition_bureau"
    assert ("110107:petition_bureau", ACCUSED) in decision.excluded


def test_an_objected_accusation_goes_to_another_discipline_organ(directory: Directory) -> None:
    inputs = {**WAGES, "kind": "accusation", "category": "misconduct"}
    inputs["accused_unit_id"] = "110107:housing"
    decision, _ = again(directory, inputs=inputs, objected=["110107:discipline"])
    assert decision.lead_unit_id == "110000:discipline"


def test_without_the_first_facts_the_bureau_decides(directory: Directory) -> None:
    decision, cause = again(directory, inputs=None, objected=["x"])
    assert decision.outcome == "triage"
    assert cause == "objection"


def test_a_major_case_stays_major(directory: Directory) -> None:
    decision, _ = again(directory, objected=["110107:hrss"], major=True)
    assert decision.major and decision.notify_unit_ids


def row(**over):
    base = dict(
        unit_id="110107:hrss",
        outcome="routed",
        co_unit_ids=["110107:housing"],
        inputs=WAGES,
        major=False,
        notify_unit_ids=[],
    )
    return SimpleNamespace(**{**base, **over})


def by_hand(directory: Directory, unit_id: str, co=(), **over):
    return named_by_hand(
        row=row(**over),
        unit_id=unit_id,
        co_unit_ids=list(co),
        actor="operator:op1",
        reason="the employer is a district-owned company",
        directory=directory,
    )


def test_an_operator_names_a_unit_with_a_reason(directory: Directory) -> None:
    decision = by_hand(directory, "110107:finance", co=["110107:hrss"])
    assert (decision.outcome, decision.lead_unit_id) == ("routed", "110107:finance")
    assert decision.co_unit_ids == ("110107:hrss",)
    assert decision.path[0] == {
        "step": "operator",
        "unit": "110107:finance",
        "by": "operator:op1",
        "why": "the employer is a district-owned company",
    }


def test_the_unit_already_holding_the_case_is_a_conflict(directory: Directory) -> None:
    with pytest.raises(Conflict):
        by_hand(directory, "110107:hrss", co=["110107:housing"])
    # the same lead out of triage, or with other co-handlers, is a real change
    assert by_hand(directory, "110107:hrss", outcome="triage").lead_unit_id == "110107:hrss"


@pytest.mark.parametrize(
    ("unit", "co", "field", "message"),
    [
        ("110107:housing", (), "unit_id", "never goes to the accused unit"),
        ("110107:hrss", (), "unit_id", "a discipline organ"),
        ("110000:discipline", ("110107:hrss",), "co_unit_ids", "no co-handling units"),
        ("999999:nothing", (), "unit_id", "no unit 999999:nothing"),
    ],
)
def test_an_operator_cannot_break_the_accusation_rules(directory, unit, co, field, message):
    accusation = {**WAGES, "kind": "accusation", "accused_unit_id": "110107:housing"}
    with pytest.raises(Invalid) as caught:
        by_hand(directory, unit, co=co, inputs=accusation, co_unit_ids=[])
    assert caught.value.errors[0]["field"] == field
    assert message in caught.value.errors[0]["message"]


def test_a_retired_unit_names_its_successor(units: list[Unit]) -> None:
    directory = Directory(
        [u for u in units if u.id != "110107:hrss"],
        successor_of={"110107:hrss": "110107:civil_affairs"},
    )
    with pytest.raises(Invalid, match="successor is 110107:civil_affairs"):
        by_hand(directory, "110107:hrss")
    accusation = {**WAGES, "kind": "accusation", "accused_unit_id": "110107:hrss"}
    with pytest.raises(Invalid, match="accused unit or its successors"):
        by_hand(directory, "110107:civil_affairs", inputs=accusation)
