"""The action table of tracking (tracking/machine.py) and region scopes (shared/regions.py)."""

from __future__ import annotations

import pytest

from shared.errors import Conflict, Forbidden
from shared.regions import scope_prefix, within
from tracking import machine


def test_a_unit_may_object_only_while_the_case_is_routed_to_it() -> None:
    assert machine.allowed("routed", "unit") == ["object"]
    assert machine.check("object", "routed", "unit").target == "received"
    with pytest.raises(Conflict) as caught:
        machine.check("object", "triage", "unit")
    assert caught.value.extensions == {"case_status": "triage", "allowed_actions": []}
    assert "not possible while the case is triage" in caught.value.detail


@pytest.mark.parametrize("role", ["petitioner", "operator", "grid_worker"])
def test_other_roles_may_not_object(role: str) -> None:
    assert "object" not in machine.allowed("routed", role)
    with pytest.raises(Forbidden):
        machine.check("object", "routed", role)


@pytest.mark.parametrize(
    ("scope", "prefix"),
    [
        ("110000", "11"),
        ("110100", "1101"),
        ("130110", "130110"),  # a county whose code ends in 0 keeps it
        ("110107011", "110107011"),
        ("110107000", "110107"),
        ("110107011000", "110107011"),
    ],
)
def test_scope_prefix(scope: str, prefix: str) -> None:
    assert scope_prefix(scope) == prefix


def test_within_a_scope() -> None:
    assert within("130110001", "130110")
    assert not within("130111", "130110")  # the neighbour county is outside
    assert within("110107011", "110000")
    assert within("440106", None)
    assert not within("440106", "110000")
