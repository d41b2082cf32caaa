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
    # How the category was set: "petitioner" or "classifier" (with its explanation)
    category_source: str = "petitioner"
    classification_matched: list[str] = []
    # 诉访分离: for category litigation, the legal channel the petitioner is told to use
    legal_channel: str | None = None
    legal_channel_name: str | None = None
    # Repeats (Art. 36, 37): "linked_duplicate" (earlier case still open) or "not_reaccepted"
    # (earlier case closed or terminated), with the earlier case
    repeat_outcome: str | None = None
    repeat_of: str | None = None
    repeat_of_tracking_number: str | None = None
    # Many petitioners, same matter, same county, within the window
    collective_id: str | None = None
    # Themed channel (专题通道) the petition came through: its code, priority (0 normal, higher
    # first in the units' queues), target response time (a clock of its own) and the unit its
    # routing overrides name for this petition (routing checks it is an active unit)
    theme: str | None = None
    priority: int = 0
    target_response_hours: int | None = None
    routing_unit_id: str | None = None
    # The channel's extra form fields, text values scrubbed of the petitioner's identity
    theme_fields: dict[str, str | int | float | bool | None] = {}
    # Registered by a grid worker on rounds (源头化解), no petitioner behind it
    proactive: bool = False
    # Group visits (Art. 20): the representatives' count (their identity stays in intake)
    representatives: int = 0


@event_type("intake.petition.collective_flagged.v1", INTAKE)
class PetitionCollectiveFlagged(EventData):
    """A case turned out to be one of many petitions on the same matter (集体访/联名信)."""

    petition_id: str
    tracking_number: str
    collective_id: str
    petitioners: int
    region_code: str
    flagged_at: datetime


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
    # "routed" to a handling unit, or "triage" at a petition bureau that must name one
    outcome: str = "routed"
    co_unit_ids: list[str] = []
    major: bool = False
    notify_unit_ids: list[str] = []
    # Whether the lead unit may still object to jurisdiction (Art. 23): false once the petition
    # bureau has named it after the transfer cap
    objection_allowed: bool = True
    # The units that review the lead's reply and then re-review it (Art. 35, 36): the same
    # function one level up, then one more; shorter when there is no level above
    review_chain: list[str] = []
    # Assigned (交办) with a report-back date set by the bureau, instead of forwarded (转送)
    report_due: date | None = None


@event_type("routing.case.rerouted.v1", ROUTING)
class CaseRerouted(CaseRouted):
    """The case moved to another unit: after a unit's objection (Art. 23), by an operator's
    hand, or to the petition bureau once the transfer cap is reached (anti 踢皮球)."""

    # 1 for the first move, then 2, 3, ...; tracking applies each revision once, in order
    revision: int
    # Moves of this case so far, this one included
    transfers: int
    previous_unit_id: str | None = None
    # "objection", "operator", or "transfer_cap"
    cause: str
    reason: str
    actor: str


@event_type("routing.case.diverted.v1", ROUTING)
class CaseDiverted(EventData):
    """Litigation-related (诉访分离): not handled as a petition; the political-legal
    committee is told, and the petitioner is told which legal channel to use."""

    case_id: str
    tracking_number: str
    unit_id: str
    region_code: str
    legal_channel: str | None = None
    legal_channel_name: str | None = None
    rule: str
    explanation: str
    diverted_at: datetime


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


@event_type("tracking.case.status_changed.v1", TRACKING)
class CaseStatusChanged(EventData):
    """Every status transition of a case, for services that follow case status."""

    case_id: str
    tracking_number: str
    status: str
    previous: str | None = None
    unit_id: str | None = None
    changed_at: datetime


@event_type("tracking.case.routed.v1", TRACKING)
class CaseAssigned(EventData):
    """Tracking recorded the routing: the case is at a unit and its acceptance clock runs."""

    case_id: str
    tracking_number: str
    status: str
    unit_id: str
    routed_at: datetime
    # None when the notice clock is waived (identity unclear)
    acceptance_due: date | None = None
    # The last day the unit may object to jurisdiction (5 working days, Art. 23), if it may
    objection_due: date | None = None


@event_type("tracking.case.objected.v1", TRACKING)
class CaseObjected(EventData):
    """The handling unit says the case is not within its remit (Art. 23); routing re-routes
    it, excluding every unit that objected, or hands it to the petition bureau."""

    case_id: str
    tracking_number: str
    unit_id: str
    # The routing revision the unit objected to (0: the first decision)
    revision: int
    reason: str
    objected_at: datetime


@event_type("tracking.case.accepted.v1", TRACKING)
class CaseAccepted(EventData):
    """The handling unit accepted the case (受理): the handling clock runs."""

    case_id: str
    tracking_number: str
    unit_id: str
    # "general" (60 days) or "simplified" (简易办理: reply in 10 working days)
    track: str
    accepted_at: datetime
    acceptance_due: date | None = None
    reply_due: date


@event_type("tracking.case.extended.v1", TRACKING)
class CaseExtended(EventData):
    case_id: str
    tracking_number: str
    unit_id: str
    days: int
    reason: str
    extended_at: datetime
    reply_due: date


@event_type("tracking.case.replied.v1", TRACKING)
class CaseReplied(EventData):
    case_id: str
    tracking_number: str
    unit_id: str
    # "support", "explain" or "reject"
    outcome: str
    replied_at: datetime
    accepted_at: datetime | None = None
    reply_due: date | None = None
    # The last day to ask for a review, and the unit that would review
    review_request_due: date
    review_unit_id: str | None = None


@event_type("tracking.case.review_requested.v1", TRACKING)
class ReviewRequested(EventData):
    """The petitioner asked for a review (复查, stage ``review``) or a re-review (复核,
    ``rereview``) of the answer they got."""

    case_id: str
    tracking_number: str
    stage: str
    unit_id: str
    requested_at: datetime
    decision_due: date


@event_type("tracking.case.review_decided.v1", TRACKING)
class ReviewDecided(EventData):
    case_id: str
    tracking_number: str
    stage: str
    unit_id: str
    # "maintain", "change" or "rehandle"
    decision: str
    decided_at: datetime
    decision_due: date | None = None
    # The next step's deadline (a re-review request), none after a re-review (terminated)
    request_due: date | None = None


@event_type("tracking.clock.due_soon.v1", TRACKING)
class ClockDueSoon(EventData):
    case_id: str
    tracking_number: str
    # acceptance, objection, handling, review, rereview, report, supervision, ...
    clock: str
    unit_id: str | None = None
    due: date
    noticed_at: datetime


@event_type("tracking.clock.overdue.v1", TRACKING)
class ClockOverdue(EventData):
    case_id: str
    tracking_number: str
    clock: str
    unit_id: str | None = None
    due: date
    noticed_at: datetime


@event_type("tracking.supervision.opened.v1", TRACKING)
class SupervisionOpened(EventData):
    """督办: the petition bureau supervises a unit on a case (Art. 38-40)."""

    supervision_id: str
    case_id: str
    tracking_number: str
    unit_id: str
    bureau_unit_id: str
    # overdue, procedural_violation, passing_the_buck, false_report, not_carried_out
    reason: str
    level: int
    opened_by: str
    opened_at: datetime
    response_due: date
    escalated_from: str | None = None


@event_type("tracking.supervision.responded.v1", TRACKING)
class SupervisionResponded(EventData):
    supervision_id: str
    case_id: str
    tracking_number: str
    unit_id: str
    responded_at: datetime


@event_type("tracking.supervision.closed.v1", TRACKING)
class SupervisionClosed(EventData):
    """The supervising bureau accepted the unit's response: the supervision is over."""

    supervision_id: str
    case_id: str
    tracking_number: str
    unit_id: str
    closed_by: str
    closed_at: datetime


@event_type("tracking.supervision.escalated.v1", TRACKING)
class SupervisionEscalated(EventData):
    """Unanswered supervision goes one level up (约谈, 通报, 挂牌督办)."""

    supervision_id: str
    case_id: str
    tracking_number: str
    unit_id: str
    escalated_to: str
    level: int
    escalated_at: datetime


@event_type("tracking.notification.requested.v1", TRACKING)
class NotificationRequested(EventData):
    """A step the petitioner should hear about, for the app backend to deliver. Carries no
    identity: ``recipient_ref`` is the petitioner's account subject (none for an anonymous or
    staff-entered petition without an account: the query code is their way in)."""

    case_id: str
    tracking_number: str
    template: str
    recipient_ref: str | None = None
    params: dict[str, str] = {}
    requested_at: datetime


@event_type("evaluation.rating.recorded.v1", EVALUATION)
class RatingRecorded(EventData):
    """The petitioner rated a case at one moment (PROCEDURE §8): ``acceptance`` (after the
    acceptance notice: was it accepted properly) or ``reply`` (was it solved). ``changed``
    when they changed their rating within the hours allowed. Carries no comment text."""

    rating_id: str
    case_id: str
    tracking_number: str
    moment: str
    # satisfied, basically_satisfied or dissatisfied
    level: str
    unit_id: str | None = None
    region_code: str
    rated_at: datetime
    changed: bool = False
    previous_level: str | None = None
    has_comment: bool = False
    # "owner" (account) or "query_code"
    rated_by: str


@event_type("evaluation.rating.not_rated.v1", EVALUATION)
class RatingNotRated(EventData):
    """The window of a moment closed without a rating: stored as not rated, never satisfied."""

    rating_id: str
    case_id: str
    tracking_number: str
    moment: str
    unit_id: str | None = None
    region_code: str
    window_opened_at: datetime
    window_closes: date
    recorded_at: datetime


@event_type("evaluation.callback.opened.v1", EVALUATION)
class CallbackOpened(EventData):
    """A dissatisfied rating: the handling unit must call the petitioner back by ``due``.
    It does not open a review (the petitioner asks for one separately)."""

    callback_id: str
    rating_id: str
    case_id: str
    tracking_number: str
    moment: str
    unit_id: str
    region_code: str
    opened_at: datetime
    due: date


@event_type("evaluation.callback.overdue.v1", EVALUATION)
class CallbackOverdue(EventData):
    callback_id: str
    case_id: str
    tracking_number: str
    unit_id: str
    due: date
    noticed_at: datetime


@event_type("evaluation.callback.done.v1", EVALUATION)
class CallbackDone(EventData):
    """The unit called the petitioner back (what it did stays in evaluation, not the event)."""

    callback_id: str
    case_id: str
    tracking_number: str
    unit_id: str
    done_at: datetime
    due: date
    on_time: bool
    done_by: str


@event_type("evaluation.callback.cancelled.v1", EVALUATION)
class CallbackCancelled(EventData):
    """The petitioner changed a dissatisfied rating within the hours allowed: no call-back."""

    callback_id: str
    case_id: str
    tracking_number: str
    unit_id: str
    cancelled_at: datetime


@event_type("evaluation.warning.raised.v1", EVALUATION)
class WarningRaised(EventData):
    """Early warning (形势预警): the petitions of a category in a region on ``day`` exceed that
    region's own baseline, the ``baseline_days`` days before it, by the configured margin
    (``z_score`` >= ``threshold``, at least ``min_count`` petitions). Once per region,
    category and day; keyed by the region code."""

    warning_id: str
    # 000000 for the whole country, else the 6-digit province, prefecture or county code
    region_code: str
    region_level: str
    # None: petitions without a category
    category: str | None = None
    day: date
    count: int
    baseline_days: int
    baseline_mean: float
    baseline_sd: float
    z_score: float
    threshold: float
    min_count: int
    raised_at: datetime


# --- Receptions (视频接访 / 联合接访): tracking owns them --------------------------------------


@event_type("tracking.reception.requested.v1", TRACKING)
class ReceptionRequested(EventData):
    """A video reception was requested for a case; the petition bureau of the case's region
    (``unit_id``) is to propose slots."""

    reception_id: str
    case_id: str
    tracking_number: str
    unit_id: str  # the petition bureau that receives
    region_code: str
    requested_by: str  # role of the requester: petitioner, unit, operator
    reason: str | None = None
    requested_at: datetime


@event_type("tracking.reception.invited.v1", TRACKING)
class ReceptionInvited(EventData):
    """One per invited unit (so each unit's webhooks get theirs): the bureau proposed slots
    and invites the handling unit and co-handling units (joint reception)."""

    reception_id: str
    case_id: str
    tracking_number: str
    unit_id: str  # the invited unit
    role: str  # "bureau", "lead" or "co"
    bureau_unit_id: str
    slots: list[datetime]
    duration_minutes: int
    invited_at: datetime


@event_type("tracking.reception.scheduled.v1", TRACKING)
class ReceptionScheduled(EventData):
    """The petitioner (or a clerk for them) confirmed a slot: the reception will take place."""

    reception_id: str
    case_id: str
    tracking_number: str
    unit_id: str  # the bureau
    unit_ids: list[str]  # every unit taking part
    region_code: str
    starts_at: datetime
    ends_at: datetime
    meeting_url: str
    # 0 the first time, 1 after the first reschedule, ...
    reschedules: int = 0
    scheduled_at: datetime


@event_type("tracking.reception.reminder.v1", TRACKING)
class ReceptionReminder(EventData):
    """Sent to each unit taking part (one event each) ahead of the start."""

    reception_id: str
    case_id: str
    tracking_number: str
    unit_id: str
    starts_at: datetime
    meeting_url: str
    lead_minutes: int
    reminded_at: datetime


@event_type("tracking.reception.cancelled.v1", TRACKING)
class ReceptionCancelled(EventData):
    reception_id: str
    case_id: str
    tracking_number: str
    unit_id: str  # the bureau
    unit_ids: list[str]
    region_code: str
    reason: str
    cancelled_by: str  # role
    cancelled_at: datetime


@event_type("tracking.reception.held.v1", TRACKING)
class ReceptionHeld(EventData):
    """The bureau recorded the end of a reception: ``outcome`` held, or no_show (the
    petitioner did not come). The minutes stay in tracking (internal); the public summary and
    the agreed actions travel."""

    reception_id: str
    case_id: str
    tracking_number: str
    unit_id: str  # the bureau
    unit_ids: list[str]
    region_code: str
    outcome: str  # held | no_show
    starts_at: datetime
    attendees: int = 0
    summary: str | None = None
    actions: list[str] = []
    recorded_at: datetime
