"""Event payloads exchanged between the services (the public contract of the topics).

Code-valued fields (kind, channel, category, function, status) are plain strings: they are
validated against the vocabulary where they enter the system, so a code added as data never
forces a new event version. No payload carries a petitioner's identity in clear.
"""

from __future__ import annotations

from datetime import date, datetime

from shared.events import EventData, event_type

INTAKE = "xinfang/intake"
ROUTING = "xinfang/routing"
TRACKING = "xinfang/tracking"
EVALUATION = "xinfang/evaluation"


@event_type("intake.petition.submitted.v1", INTAKE)
class PetitionSubmitted(EventData):
    petition_id: str
    tracking_number: str
    kind: str
    channel: str
    title: str
    content: str
    category: str | None = None
    region_code: str
    location_address: str | None = None
    accused_unit_id: str | None = None
    anonymous: bool = False
    identity_unclear: bool = False
    owner_ref: str | None = None
    petitioner_masked_name: str | None = None
    id_number_hmac: str | None = None
    query_code_hash: str
    headcount: int = 1
    received_at: datetime
    submitted_at: datetime


@event_type("routing.case.routed.v1", ROUTING)
class CaseRouted(EventData):
    case_id: str
    tracking_number: str
    unit_id: str
    unit_name: str | None = None
    function: str
    region_code: str
    level: str
    rule: str
    explanation: str
    routed_at: datetime


@event_type("tracking.case.registered.v1", TRACKING)
class CaseRegistered(EventData):
    case_id: str
    tracking_number: str
    status: str
    kind: str
    channel: str
    category: str | None = None
    region_code: str
    anonymous: bool = False
    identity_unclear: bool = False
    registered_at: datetime


@event_type("tracking.case.routed.v1", TRACKING)
class CaseAssigned(EventData):
    """Tracking recorded the routing: the case is at a unit and its acceptance clock runs."""

    case_id: str
    tracking_number: str
    status: str
    unit_id: str
    routed_at: datetime
    acceptance_due: date
