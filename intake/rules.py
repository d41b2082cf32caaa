"""Identity and channel rules of ARCHITECTURE §4, as pure functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from intake.schemas import PetitionCreate
from shared.auth import Principal
from shared.errors import Forbidden, Invalid
from shared.regions import within
from shared.vocabulary import PROACTIVE_CHANNELS, STAFF_CHANNELS

# Art. 20: a group visit elects at most this many representatives
MAX_REPRESENTATIVES = 5


def check_submitter(body: PetitionCreate, principal: Principal) -> None:
    proactive = body.channel in PROACTIVE_CHANNELS
    if proactive or principal.role == "grid_worker":
        if not proactive:
            raise Forbidden(
                "a grid worker reports on channel 'grid' only",
                errors=[{"field": "channel", "message": "use channel 'grid'"}],
            )
        if principal.role != "grid_worker":
            raise Forbidden(
                "channel 'grid' is for grid workers' reports: it needs a grid_worker token",
                errors=[{"field": "channel", "message": "needs a grid_worker token"}],
            )
        return
    staff = body.channel in STAFF_CHANNELS
    if staff and principal.role not in ("unit", "operator"):
        raise Forbidden(
            f"channel '{body.channel}' is entered by staff: it needs a unit or operator token",
            errors=[{"field": "channel", "message": "needs a unit or operator token"}],
        )
    # A service submits online on behalf of its users (the gateway's Open311 clients)
    if not staff and principal.role not in ("petitioner", "operator", "service"):
        raise Forbidden(
            f"channel '{body.channel}' is for petitioners: use a petitioner token",
            errors=[{"field": "channel", "message": "needs a petitioner token"}],
        )


def owner_of(principal: Principal) -> str | None:
    """The account that follows the petition: the petitioner's own, or that of a service
    submitting on behalf of its users (an Open311 client, ``open311:<client>``). Repeat
    matching keys on a petitioner's account only: a service speaks for many people."""
    return principal.sub if principal.role in ("petitioner", "service", "grid_worker") else None


def check_reporter_region(principal: Principal, region_code: str) -> None:
    """A grid worker whose token names a region reports within it only."""
    if principal.role == "grid_worker" and not within(region_code, principal.region_code):
        raise Forbidden(
            f"your grid covers {principal.region_code}; {region_code} lies outside it",
            errors=[{"field": "location.region_code", "message": "outside your grid"}],
        )


def check_grid_report(body: PetitionCreate) -> None:
    """A grid worker's report (源头化解): no petitioner behind it, a township or village, and
    photographs taken on the rounds."""
    if body.petitioner is not None:
        raise Invalid("petitioner", "a grid report has no petitioner: omit it")
    if body.representatives:
        raise Invalid("representatives", "a grid report has no representatives: omit them")
    if body.anonymous:
        raise Invalid("anonymous", "a grid report is not anonymous: it names its grid worker")
    if body.kind == "accusation":
        raise Invalid("kind", "a grid report is a grievance or a suggestion, not an accusation")
    if body.received_at is not None:
        raise Invalid("received_at", "a grid report is received when it is submitted: omit it")
    code = body.location.region_code
    if code is None or len(code) == 6 or (len(code) == 12 and code[6:] == "000000"):
        raise Invalid(
            "location.region_code",
            "a grid report names its township (9 digits) or village (12 digits)",
        )
    for i, a in enumerate(body.attachments):
        if not a.content_type.lower().startswith("image/"):
            raise Invalid(
                f"attachments[{i}].content_type",
                f"a grid report attaches photographs (image/*), not {a.content_type}",
            )


def check_group(body: PetitionCreate) -> None:
    """Art. 20: a group visit of more than five people elects one to five representatives."""
    n, reps = body.headcount, len(body.representatives)
    if reps > n:
        raise Invalid(
            "representatives", f"{reps} representatives cannot speak for a head count of {n}"
        )
    if body.channel == "visit" and n > MAX_REPRESENTATIVES and not 1 <= reps <= 5:
        raise Invalid(
            "representatives",
            f"a group visit of {n} people names 1 to {MAX_REPRESENTATIVES} representatives",
        )


def identity_unclear(body: PetitionCreate, now: datetime | None = None) -> bool:
    """Validate identity by kind and channel; return True for a staff-entered matter whose
    petitioner cannot be identified (registered, but no notice clock and never rated)."""
    if body.theme_fields and not body.theme:
        raise Invalid("theme_fields", "theme_fields answer a themed channel's form: give theme")
    if body.channel in PROACTIVE_CHANNELS:
        check_grid_report(body)
        return False
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
    check_group(body)
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
