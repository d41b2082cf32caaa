"""The actions on a case and when they are allowed (PROCEDURE.md §6, the transition table).

Pure: which role may take which action from which status, to which status. An action that the
table does not allow is a 409 naming the actions the caller may take instead. The clock and
object-level checks (is it your case, is the window still open) belong to the endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import Conflict, Forbidden


@dataclass(frozen=True)
class Action:
    name: str
    roles: tuple[str, ...]
    sources: tuple[str, ...]
    target: str
    summary: str


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action(
            "object",
            ("unit",),
            ("routed",),
            "received",
            "object to jurisdiction within 5 working days of receiving the case (Art. 23); "
            "routing moves it to the competent unit",
        ),
    )
}


def allowed(status: str, role: str) -> list[str]:
    """The actions ``role`` may take on a case in ``status``."""
    return [a.name for a in ACTIONS.values() if role in a.roles and status in a.sources]


def check(action: str, status: str, role: str) -> Action:
    """The action if ``role`` may take it now; else Forbidden (never this role's action) or
    Conflict (not in this status) listing what is allowed."""
    spec = ACTIONS[action]
    if role not in spec.roles:
        raise Forbidden(f"{action}: only for {', '.join(spec.roles)} tokens")
    if status not in spec.sources:
        options = allowed(status, role)
        raise Conflict(
            f"{action} is not possible while the case is {status}; "
            + (f"allowed now: {', '.join(options)}" if options else "no action is open to you now"),
            extensions={"case_status": status, "allowed_actions": options},
        )
    return spec
