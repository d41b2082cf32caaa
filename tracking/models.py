from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)

from shared.db import UtcDateTime
from shared.messaging.tables import messaging_tables

metadata = MetaData()
messaging = messaging_tables(metadata)

cases = Table(
    "cases",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tracking_number", String(18), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("title", String(200), nullable=False),
    Column("category", String(50)),
    Column("category_source", String(20), nullable=False, server_default="petitioner"),
    Column("legal_channel", String(50)),
    Column("legal_channel_name", String(100)),
    Column("region_code", String(12), nullable=False),
    Column("status", String(30), nullable=False),
    Column("unit_id", String(100), index=True),
    Column("owner_ref", String(200), index=True),
    Column("petitioner_masked_name", String(60)),
    Column("query_code_hash", String(200), nullable=False),
    Column("anonymous", Boolean, nullable=False),
    Column("identity_unclear", Boolean, nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("registered_at", UtcDateTime(), nullable=False),
    Column("routed_at", UtcDateTime()),
    Column("acceptance_due", Date),
    # Jurisdiction objection (Art. 23): the last day, and whether the unit may object at all
    # (not once the petition bureau named it after the transfer cap)
    Column("objection_due", Date),
    Column("objection_allowed", Boolean, nullable=False, server_default=true()),
    # The routing decision applied (0: the first) and how often the case has been moved
    Column("routing_revision", Integer, nullable=False, server_default="0"),
    Column("transfers", Integer, nullable=False, server_default="0"),
    Column("co_unit_ids", JSON),
    # Units that review the reply, then re-review it (routing names them with the lead)
    Column("review_chain", JSON),
    # Assigned (交办) with a report-back date, and when the unit reported
    Column("report_due", Date),
    Column("reported_at", UtcDateTime()),
    # Handling: the track, acceptance, the reply deadline (extended at most once)
    Column("track", String(20)),
    Column("accepted_at", UtcDateTime()),
    Column("reply_due", Date),
    Column("extension_days", Integer),
    Column("extension_reason", String(500)),
    Column("extension_approved_by", String(100)),
    Column("reply_outcome", String(20)),
    Column("reply_text", Text),
    Column("reply_attachments", JSON),
    Column("replied_at", UtcDateTime()),
    # 领导包案: the leader who owns the case
    Column("leader_name", String(60)),
    Column("leader_title", String(100)),
    Column("repeat_of", String(36)),
    Column("repeat_of_tracking_number", String(18)),
    Column("collective_id", String(36), index=True),
    # Themed channel (专题通道): its code, queue priority (higher first), target response time
    Column("theme", String(50)),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("target_response_hours", Integer),
    Column("theme_fields", JSON),
    # Registered by a grid worker on rounds (源头化解): owner_ref is the grid worker
    Column("proactive", Boolean, nullable=False, server_default=false()),
    Column("representatives", Integer, nullable=False, server_default="0"),
    Column("updated_at", UtcDateTime(), nullable=False),
)

timeline = Table(
    "timeline",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("status", String(30), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("note", Text, nullable=False),
    Column("public", Boolean, nullable=False),
    Index("ix_timeline_case", "case_id", "id"),
)

# Review (复查) and re-review (复核) of a reply: who asked when, who decides, what they decided
reviews = Table(
    "reviews",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False),
    Column("stage", String(20), nullable=False),  # review | rereview
    Column("unit_id", String(100), nullable=False, index=True),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("reason", Text, nullable=False),
    Column("decision_due", Date, nullable=False),
    Column("decision", String(20)),  # maintain | change | rehandle
    Column("text", Text),
    Column("decided_at", UtcDateTime()),
    UniqueConstraint("case_id", "stage", name="uq_reviews_case_stage"),
)

# Every deadline of a case (PROCEDURE §5) as a row: the scheduler reads only the rows whose
# next_check has come (an index range), so a million open clocks cost what crosses a threshold
clocks = Table(
    "clocks",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False),
    # acceptance, objection, handling, review_request, review, rereview_request, rereview,
    # report, supervision
    Column("kind", String(30), nullable=False),
    Column("unit_id", String(100)),
    Column("started_on", Date, nullable=False),
    Column("due", Date, nullable=False),
    Column("due_soon_on", Date, nullable=False),
    # A clock counted in hours (a themed channel's response time): the precise moment; ``due``
    # is its day in China time
    Column("due_at", UtcDateTime()),
    Column("state", String(10), nullable=False, server_default="on_time"),
    Column("provisional", Boolean, nullable=False, server_default=false()),
    Column("basis", String(200), nullable=False),
    # the next day the scheduler must look at it; none once stopped or overdue
    Column("next_check", Date),
    Column("stopped_at", UtcDateTime()),
    Column("met", Boolean),  # stopped on or before the due day
    Column("supervision_id", String(36)),
    # (next_check, id): the scan reads a range in this order, batch after batch; clocks that
    # stopped or went overdue (next_check NULL) are left out, so the index holds running ones
    Index(
        "ix_clocks_next_check",
        "next_check",
        "id",
        postgresql_where=text("next_check IS NOT NULL"),
        sqlite_where=text("next_check IS NOT NULL"),
    ),
    Index("ix_clocks_case_kind", "case_id", "kind"),
)

# 督办 (Art. 38-40): opened on an overdue clock or by hand; its own clock; escalates unanswered
supervisions = Table(
    "supervisions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False, index=True),
    Column("unit_id", String(100), nullable=False),
    Column("bureau_unit_id", String(100), nullable=False),
    Column("reason", String(30), nullable=False),
    Column("note", Text),
    Column("level", Integer, nullable=False, server_default="0"),
    Column("status", String(20), nullable=False, server_default="open"),
    Column("opened_by", String(200), nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("response_due", Date, nullable=False),
    Column("response", Text),
    Column("responded_at", UtcDateTime()),
    Column("escalated_from", String(36)),
    Column("escalated_to", String(36)),
    Index("ix_supervisions_status_bureau", "status", "bureau_unit_id"),
    Index("ix_supervisions_unit", "unit_id", "status"),
)

# Agency systems' webhooks: what a unit subscribed to, and every delivery with its attempts
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("unit_id", String(100), nullable=False, index=True),
    Column("url", String(2000), nullable=False),
    Column("secret", String(500), nullable=False),  # encrypted at rest
    Column("event_types", JSON, nullable=False),
    Column("active", Boolean, nullable=False, server_default=true()),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("subscription_id", String(36), ForeignKey("webhook_subscriptions.id"), nullable=False),
    Column("unit_id", String(100), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("event_type", String(100), nullable=False),
    Column("case_id", String(36)),
    Column("body", Text, nullable=False),
    Column("status", String(20), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UtcDateTime()),
    Column("last_status", Integer),
    Column("last_error", String(500)),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("delivered_at", UtcDateTime()),
    UniqueConstraint("subscription_id", "event_id", name="uq_webhook_deliveries_event"),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_subscription", "subscription_id", "created_at"),
)

# 视频接访 / 联合接访: a video (joint) reception of a case by the petition bureau of its county,
# with the handling and co-handling units; minutes stay internal, the summary is public
receptions = Table(
    "receptions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("case_id", String(36), ForeignKey("cases.id"), nullable=False, index=True),
    Column("tracking_number", String(18), nullable=False),
    Column("region_code", String(12), nullable=False),
    Column("bureau_unit_id", String(100), nullable=False),
    # requested | proposed | scheduled | held | no_show | cancelled
    Column("status", String(20), nullable=False),
    Column("requested_by", String(20), nullable=False),
    Column("reason", Text),
    Column("slots", JSON),  # proposed start times (ISO 8601, UTC)
    Column("duration_minutes", Integer, nullable=False, server_default="60"),
    Column("starts_at", UtcDateTime()),
    Column("ends_at", UtcDateTime()),
    Column("meeting_url", String(2000)),
    Column("unit_ids", JSON),  # every unit taking part: the bureau, the lead, co-handlers
    Column("reschedules", Integer, nullable=False, server_default="0"),
    Column("reminders_sent", JSON),  # the reminder leads (minutes) already sent
    Column("attendees", JSON),
    Column("minutes", Text),
    Column("summary", Text),
    Column("actions", JSON),
    Column("cancel_reason", Text),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_receptions_status_starts", "status", "starts_at"),
)
