"""The action table of tracking (tracking/machine.py) and region scopes (shared/regions.py)."""

from __future__ import annotations

import pytest

from shared.errors import Conflict, Forbidden
from shared.regions import scope_prefix, within
from tracking import machine

H, R, RR, P, OP = (
    machine.HANDLER,
    machine.REVIEWER,
    machine.REREVIEWER,
    machine.PETITIONER,
    machine.OPERATOR,
)

# PROCEDURE.md §6, the transition table, written out by hand: status -> actor -> actions
EXPECTED = {
    "received": {},
    "triage": {},
    "routed": {
        H: ["object", "accept", "not-accept", "report"],
        OP: ["not-accept"],
        P: ["withdraw"],
    },
    "in_progress": {H: ["extend", "reply", "report"], P: ["withdraw"]},
    "extended": {H: ["reply", "report"], P: ["withdraw"]},
    "replied": {H: ["report"], P: ["review-requests"]},
    "under_review": {R: ["review-decision"]},
    "review_replied": {P: ["rereview-requests"]},
    "under_rereview": {RR: ["rereview-decision"]},
    "terminated": {},
    "closed": {},
    "withdrawn": {},
    "not_accepted": {},
    "diverted": {},
}


@pytest.mark.parametrize("status", sorted(EXPECTED))
def test_the_table_is_the_procedure(status: str) -> None:
    for actor in (H, R, RR, P, OP):
        assert machine.allowed(status, {actor}) == EXPECTED[status].get(actor, []), actor


def test_targets_follow_the_procedure() -> None:
    targets = {name: a.target for name, a in machine.ACTIONS.items()}
    assert targets == {
        "object": "received",
        "accept": "in_progress",
        "not-accept": "not_accepted",
        "extend": "extended",
        "reply": "replied",
        "report": None,
        "withdraw": "withdrawn",
        "review-requests": "under_review",
        "review-decision": "review_replied",
        "rereview-requests": "under_rereview",
        "rereview-decision": "terminated",
    }


def test_a_refused_action_lists_what_is_allowed() -> None:
    assert machine.check("object", "routed", {H}).target == "received"
    with pytest.raises(Conflict) as caught:
        machine.check("extend", "extended", {H})  # once only
    assert caught.value.extensions == {
        "case_status": "extended",
        "allowed_actions": ["reply", "report"],
    }
    assert "not possible while the case is extended" in caught.value.detail


@pytest.mark.parametrize(
    ("action", "actor"), [("object", P), ("accept", OP), ("review-decision", H)]
)
def test_the_wrong_actor_is_forbidden(action: str, actor: str) -> None:
    with pytest.raises(Forbidden):
        machine.check(action, "routed", {actor})


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
