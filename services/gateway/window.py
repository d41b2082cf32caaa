"""Any matter at any window (信访超市: 无差别受理, 一站式接收).

``POST /api/v1/window/registrations``: a clerk at any unit's window (a unit or operator
token) registers a visitor's matter for any region. The gateway sends the petition to
intake exactly as the clerk sent it (intake checks it, registers it and answers with its
classification and 诉访分离 result), then asks routing where the rules send it on the
directory as it is now, and answers both with the guidance to give the visitor, in one
round trip. The case itself is routed by the same rules when intake's event reaches routing.

The registration is the part that must not fail: when routing cannot answer, the answer is
still 201 (the case is registered and will be routed), with ``competent_unit`` null and
``preview_unavailable`` saying why. A retry with the same ``Idempotency-Key`` replays the
registration and asks routing again.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.gateway.proxy import PREFIX, relay, send
from shared.errors import AppError

log = logging.getLogger(__name__)

router = APIRouter(prefix=PREFIX, tags=["window"])

ACCEPTANCE_DAYS = 15  # PROCEDURE §5: the unit decides on acceptance within 15 days


class Unit(BaseModel):
    unit_id: str
    name: str | None = None
    function: str
    level: str
    region_code: str


class WindowRegistration(BaseModel):
    """What the window shows the clerk at once."""

    registration: dict[str, Any] = Field(
        description="intake's answer (PetitionCreated): tracking number, query code, "
        "classification, 诉访分离 result, repeat and collective flags"
    )
    outcome: str | None = Field(
        None, description="routed, diverted (litigation-related) or triage (the bureau names it)"
    )
    competent_unit: Unit | None = None
    co_units: list[Unit] = []
    routing_explanation: str | None = None
    guidance: list[str] = Field(description="what to tell the visitor, in order")
    preview_unavailable: str | None = Field(
        None, description="why routing's answer is missing (the case is registered regardless)"
    )


def guidance(reg: dict[str, Any], preview: dict[str, Any] | None) -> list[str]:
    """What the clerk tells the visitor, from the registration and routing's answer."""
    number = reg.get("tracking_number_display") or reg.get("tracking_number")
    earlier = reg.get("repeat_of_tracking_number")
    lines: list[str] = []
    if reg.get("litigation"):
        channel = reg.get("legal_channel_name") or "the court or the procuratorate"
        lines.append(
            f"诉访分离: this matter is litigation-related and is not handled as a petition; "
            f"tell the visitor to pursue it through {channel}. The political-legal committee "
            "is informed of the case."
        )
    elif reg.get("repeat_outcome") == "linked_duplicate":
        lines.append(
            f"The same matter is already being handled under {earlier}: "
            "this visit is linked to it, no new case is opened; follow that case."
        )
    elif reg.get("repeat_outcome") == "not_reaccepted":
        lines.append(
            f"The same matter was already concluded under {earlier} "
            "and is not accepted again (Art. 36, 37); the visitor may request a review of that "
            "case's reply instead."
        )
    elif preview and preview.get("outcome") == "routed" and preview.get("unit"):
        unit = preview["unit"]
        lines.append(
            f"The competent unit is {unit.get('name') or unit['unit_id']}: it decides on "
            f"acceptance within {ACCEPTANCE_DAYS} days and notifies the visitor."
        )
    elif preview and preview.get("unit"):
        unit = preview["unit"]
        lines.append(
            f"The petition bureau {unit.get('name') or unit['unit_id']} names the handling unit "
            f"(no unit follows from the rules alone); acceptance is decided within "
            f"{ACCEPTANCE_DAYS} days."
        )
    else:
        lines.append("The case is registered and will be routed to the competent unit.")
    if reg.get("collective"):
        lines.append(
            "Many people raise this matter: it is handled as a collective petition; the "
            "representatives speak for the group (at most 5, Art. 20)."
        )
    lines.append(
        f"Give the visitor the tracking number {number} and the query code "
        f"{reg.get('query_code')} to follow the case online."
    )
    return lines


def _preview_request(petition: dict[str, Any], reg: dict[str, Any]) -> dict[str, Any]:
    body = {
        "region_code": reg.get("region_code"),
        "category": reg.get("category") or "other",
        "kind": petition.get("kind", "grievance"),
        "headcount": petition.get("headcount", 1),
        "text": f"{petition.get('title', '')}\n{petition.get('content', '')}"[:10200],
    }
    if petition.get("accused_unit_id"):
        body["accused_unit_id"] = petition["accused_unit_id"]
    if reg.get("routing_unit_id"):
        body["routing_unit_id"] = reg["routing_unit_id"]
    return body


@router.post(
    "/window/registrations",
    status_code=201,
    response_model=WindowRegistration,
    summary="Register a visitor's matter at any window and show at once where it goes",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/PetitionCreate"}}
            },
        }
    },
)
async def register(request: Request) -> Response:
    """A unit clerk or an operator registers any matter for any region (无差别受理), as
    ``POST /api/v1/petitions`` does, and sees at once the classification, the 诉访分离 result,
    the competent unit and what to tell the visitor. Group visits record the head count and
    up to 5 representatives. Answers intake's error unchanged when the petition is refused."""
    registered = await send(request, "intake", f"{PREFIX}/petitions")
    if registered.status_code != 201:
        return relay(registered)
    reg = registered.json()
    petition = json.loads(await request.body())
    preview: dict[str, Any] | None = None
    unavailable: str | None = None
    if reg.get("repeat_outcome") is None:
        try:
            answer = await send(
                request,
                "routing",
                f"{PREFIX}/routing/preview",
                content=json.dumps(_preview_request(petition, reg)).encode(),
            )
        except AppError as exc:
            unavailable = exc.detail
        else:
            if answer.status_code == 200:
                preview = answer.json()
            else:
                unavailable = f"routing answered {answer.status_code}"
                log.warning("window preview failed", extra={"status": answer.status_code})
    body = WindowRegistration(
        registration=reg,
        outcome=preview.get("outcome") if preview else None,
        competent_unit=preview.get("unit") if preview else None,
        co_units=preview.get("co_units", []) if preview else [],
        routing_explanation=preview.get("explanation") if preview else None,
        guidance=guidance(reg, preview),
        preview_unavailable=unavailable,
    )
    headers = {k: registered.headers[k] for k in ("location",) if k in registered.headers}
    if "idempotent-replayed" in registered.headers:
        headers["Idempotent-Replayed"] = registered.headers["idempotent-replayed"]
    return JSONResponse(body.model_dump(mode="json"), status_code=201, headers=headers)
