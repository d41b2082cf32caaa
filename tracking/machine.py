"""The actions on a case and when they are allowed (PROCEDURE.md §6, the transition table).

Pure: which actor may take which action from which status, to which status. Actors are the
caller's relations to the case: ``handling_unit`` (the unit the case is routed to),
``reviewing_unit`` and ``rereviewing_unit`` (one and two levels above it), ``petitioner`` (the
owner) and ``operator``. An action the table does not allow is a 409 naming the actions the
caller may take instead; the clock checks (is the window still open) belong to the endpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.errors import Conflict, Forbidden

HANDLER, REVIEWER, REREVIEWER = "handling_unit", "reviewing_unit", "rereviewing_unit"
PETITIONER, OPERATOR = "petitioner", "operator"


@dataclass(frozen=True)
class Action:
    name: str
    actors: tuple[str, ...]
    sources: tuple[str, ...]
    target: str | None  # None: the status stays (a report-back runs beside the states)
    summary: str


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action(
            "object",
            (HANDLER,),
            ("routed",),
            "received",
            "object to jurisdiction within 5 working days of receiving the case (Art. 23); "
            "routing moves it to the competent unit",
        ),
        Action(
            "accept",
            (HANDLER,),
            ("routed",),
            "in_progress",
            "accept the case (受理) on the general track (reply in 60 days) or the simplified "
            "one (accept within 3 working days, reply in 10 working days)",
        ),
        Action(
            "not-accept",
            (HANDLER, OPERATOR),
            ("routed",),
            "not_accepted",
            "not a petition matter, or outside every unit's remit: a notice with the reason",
        ),
        Action(
            "extend",
            (HANDLER,),
            ("in_progress",),
            "extended",
            "extend the reply deadline once, by at most 30 days, approved by the unit head, "
            "with the reason the petitioner is told (Art. 34)",
        ),
        Action(
            "reply",
            (HANDLER,),
            ("in_progress", "extended"),
            "replied",
            "the written reply: support, explain or reject (Art. 34)",
        ),
        Action(
            "report",
            (HANDLER,),
            ("routed", "in_progress", "extended", "replied"),
            None,
            "report back to the assigning bureau on an assigned case (交办)",
        ),
        Action(
            "withdraw",
            (PETITIONER,),
            ("routed", "in_progress", "extended"),
            "withdrawn",
            "the petitioner withdraws the petition",
        ),
        Action(
            "review-requests",
            (PETITIONER,),
            ("replied",),
            "under_review",
            "ask the unit one level up to review the reply, within 30 days of it (Art. 35)",
        ),
        Action(
            "review-decision",
            (REVIEWER,),
            ("under_review",),
            "review_replied",
            "the review decision: maintain, change or order re-handling, within 30 days",
        ),
        Action(
            "rereview-requests",
            (PETITIONER,),
            ("review_replied",),
            "under_rereview",
            "ask the unit one more level up to re-review, within 30 days of the review "
            "decision (Art. 36)",
        ),
        Action(
            "rereview-decision",
            (REREVIEWER,),
            ("under_rereview",),
            "terminated",
            "the re-review decision; the case is then terminated (终结)",
        ),
    )
}


def allowed(status: str, actors: Iterable[str]) -> list[str]:
    """The actions a caller with these relations to the case may take in ``status``."""
    mine = set(actors)
    return [a.name for a in ACTIONS.values() if mine & set(a.actors) and status in a.sources]


def check(action: str, status: str, actors: Iterable[str], ruled_out: Iterable[str] = ()) -> Action:
    """The action if the caller may take it now; else Forbidden (never this caller's action)
    or Conflict (not in this status), listing what is allowed (less ``ruled_out``: actions
    the case's own facts exclude, such as a second report)."""
    spec = ACTIONS[action]
    mine = set(actors)
    if not mine & set(spec.actors):
        raise Forbidden(f"{action}: only for the {' or the '.join(spec.actors)}".replace("_", " "))
    if status not in spec.sources:
        options = [a for a in allowed(status, mine) if a not in set(ruled_out)]
        raise Conflict(
            f"{action} is not possible while the case is {status}; "
            + (f"allowed now: {', '.join(options)}" if options else "no action is open to you now"),
            extensions={"case_status": status, "allowed_actions": options},
        )
    return spec
