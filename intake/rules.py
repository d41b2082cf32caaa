"""Identity and channel rules of ARCHITECTURE §4, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from intake.schemas import PetitionCreate
from shared.auth import Principal
from shared.errors import Forbidden, Invalid
from shared.vocabulary import STAFF_CHANNELS


def check_submitter(body: PetitionCreate, principal: Principal) -> None:
    staff = body.channel in STAFF_CHANNELS
    if staff and principal.role not in ("unit", "operator"):
        raise Forbidden(
            f"channel '{body.channel}' is entered by staff: it needs a unit or operator token"
        )
    # A service submits online on behalf of its users (the gateway's Open311 clients)
    if not staff and principal.role not in ("petitioner", "operator", "service"):
        raise Forbidden(f"channel '{body.channel}' is for petitioners: use a petitioner token")


def owner_of(principal: Principal) -> str | None:
    """The account that follows the petition: the petitioner's own, or that of a service
    submitting on behalf of its users (an Open311 client, ``open311:<client>``). Repeat
    matching keys on a petitioner's account only: a service speaks for many people."""
    return principal.sub if principal.role in ("petitioner", "service") else None


def identity_unclear(body: PetitionCreate, now: datetime | None = None) -> bool:
    """Validate identity by kind and channel; return True for a staff-entered matter whose
    petitioner cannot be identified (registered, but no notice clock and never rated)."""
    staff = body.channel in STAFF_CHANNELS
    p = body.petitioner
    if body.anonymous:
        if body.kind == "grievance":
            raise Invalid(
                "anonymous", "a grievance cannot be anonymous; only suggestions and accusations can"
            )
        if p is not None:
            raise Invalid("petitioner", "omit the petitioner of an anonymous petition")
    if body.received_at is not None:
        if not staff:
            raise Invalid(
                "received_at",
                "only staff-entered channels (letter, visit, phone, fax) take a received_at date",
            )
        when = body.received_at if body.received_at.tzinfo else body.received_at.replace(tzinfo=UTC)
        if when > (now or datetime.now(UTC)) + timedelta(minutes=5):
            raise Invalid("received_at", "must not be in the future")
    if body.kind != "accusation" and body.accused_unit_id is not None:
        raise Invalid("accused_unit_id", "only an accusation names an accused unit")
    if body.representatives and body.channel != "visit":
        raise Invalid("representatives", "representatives are for group visits (channel visit)")
    if body.anonymous:
        return False
    required = ["name", "phone", "address"] if body.kind == "grievance" else ["name", "phone"]
    missing = [f for f in required if p is None or getattr(p, f) is None]
    if not staff:
        if missing:
            raise Invalid(
                f"petitioner.{missing[0]}",
                f"a {body.kind} submitted online needs the petitioner's {', '.join(missing)}",
            )
        return False
    unclear_if_missing = ["name", "address"] if body.kind == "grievance" else ["name"]
    return any(p is None or getattr(p, f) is None for f in unclear_if_missing)
