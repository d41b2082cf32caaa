from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

from evaluation.scorecard import MEASURES
from shared.db import UtcDateTime
from shared.messaging.tables import messaging_tables

metadata = MetaData()
messaging = messaging_tables(metadata)

case_reads = Table(
    "case_reads",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("tracking_number", String(18), nullable=False, unique=True),
    Column("status", String(30), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("category", String(50)),
    Column("region_code", String(12), nullable=False, index=True),
    Column("unit_id", String(100), index=True),
    Column("anonymous", Boolean, nullable=False),
    Column("identity_unclear", Boolean, nullable=False),
    Column("registered_at", UtcDateTime(), nullable=False),
    Column("routed_at", UtcDateTime()),
    Column("acceptance_due", Date),
    Column("updated_at", UtcDateTime(), nullable=False),
    # What ratings and scorecards need, from intake's and tracking's events
    Column("received_at", UtcDateTime()),
    Column("owner_ref", String(200)),
    Column("query_code_hash", String(200)),
    Column("repeat_of", String(36)),  # a repeat petition (linked or not re-accepted)
    Column("collective_id", String(36)),
    Column("track", String(20)),
    Column("accepted_at", UtcDateTime()),
    Column("reply_due", Date),
    Column("extension_days", Integer),
    Column("replied_at", UtcDateTime()),
    Column("concluded_at", UtcDateTime()),
    Column("supervision_count", Integer, nullable=False, server_default="0"),
    # The themed channel (专题通道) a petition came through, and a grid worker's report
    Column("theme", String(40)),
    Column("proactive", Boolean, nullable=False, server_default=false()),
)

# Satisfaction (PROCEDURE §8): one row per case and moment (acceptance, reply), opened when the
# moment is reached for a case that may be rated; ``open`` until the petitioner rates it
# (``rated``) or its window closes (``not_rated``, stored by the rating scheduler).
ratings = Table(
    "ratings",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("case_id", String(36), nullable=False),
    Column("tracking_number", String(18), nullable=False),
    Column("moment", String(20), nullable=False),
    Column("unit_id", String(100), index=True),  # the handling unit at the moment
    Column("region_code", String(12), nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),  # the moment: accepted, replied
    Column("window_closes", Date, nullable=False),  # the last day to rate (China time)
    Column("state", String(20), nullable=False),
    Column("level", String(30)),
    Column("comment", Text),
    Column("rated_by", String(20)),  # owner (account) or query_code
    Column("rated_at", UtcDateTime()),  # the first rating: changes are counted from it
    Column("changed_at", UtcDateTime()),
    Column("changes", Integer, nullable=False, server_default="0"),
    Column("closed_at", UtcDateTime()),  # when not_rated was stored
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("case_id", "moment", name="uq_ratings_case_moment"),
    Index("ix_ratings_state_window", "state", "window_closes"),
)

# A dissatisfied rating's call-back task for the handling unit, with its own clock
callbacks = Table(
    "callbacks",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("rating_id", String(36), ForeignKey("ratings.id"), nullable=False, index=True),
    Column("case_id", String(36), nullable=False, index=True),
    Column("tracking_number", String(18), nullable=False),
    Column("moment", String(20), nullable=False),
    Column("unit_id", String(100), nullable=False),
    Column("region_code", String(12), nullable=False),
    # open, overdue (still to do), done, cancelled (the rating was changed)
    Column("status", String(20), nullable=False),
    Column("opened_at", UtcDateTime(), nullable=False),
    Column("due", Date, nullable=False),
    Column("overdue_at", UtcDateTime()),
    Column("done_at", UtcDateTime()),
    Column("done_by", String(200)),
    Column("note", Text),
    Column("on_time", Boolean),
    Column("cancelled_at", UtcDateTime()),
    Index("ix_callbacks_unit", "unit_id", "due", "id"),
    Index("ix_callbacks_status_due", "status", "due"),
)

# Analytics (evaluation/scorecard.py, evaluation/rollups.py). Per case: the facts scorecards
# need beyond case_reads (overdue clocks, ratings), the day an open case becomes a backlog
# case by age, and what the case last added to the rollups (JSON), so a change is applied as
# the difference
scorecard_cases = Table(
    "scorecard_cases",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("acceptance_overdue_unit", String(100)),
    Column("acceptance_overdue_due", Date),
    Column("handling_overdue_unit", String(100)),
    Column("handling_overdue_due", Date),
    Column("acceptance_rating", String(30)),
    Column("reply_rating", String(30)),
    Column("backlog_from", Date, index=True),
    Column("applied", Text),
)

# Sums of the cases' counters per scope (unit id, or region code: county, prefecture,
# province, 000000), day of receipt (China time) and category ("" for none)
scorecard_rollups = Table(
    "scorecard_rollups",
    metadata,
    Column("scope", String(10), primary_key=True),
    Column("scope_id", String(100), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("category", String(50), primary_key=True),
    *(Column(m, Integer, nullable=False, server_default="0") for m in MEASURES),
)

# Early warnings (形势预警), once per region, category and day
analytics_warnings = Table(
    "analytics_warnings",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("region_code", String(12), nullable=False),
    Column("region_level", String(20), nullable=False),
    Column("category", String(50), nullable=False),
    Column("day", Date, nullable=False, index=True),
    Column("count", Integer, nullable=False),
    Column("baseline_days", Integer, nullable=False),
    Column("baseline_mean", Float, nullable=False),
    Column("baseline_sd", Float, nullable=False),
    Column("z_score", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("min_count", Integer, nullable=False),
    Column("raised_at", UtcDateTime(), nullable=False),
    UniqueConstraint("region_code", "category", "day", name="uq_analytics_warnings"),
)

# A later petition repeating a case (scorecards), and collective petitions by day of receipt
Index("ix_case_reads_repeat_of", case_reads.c.repeat_of)
Index(
    "ix_case_reads_collective",
    case_reads.c.received_at,
    postgresql_where=case_reads.c.collective_id.is_not(None),
    sqlite_where=case_reads.c.collective_id.is_not(None),
)

# Video and joint receptions (tracking's reception events): one row each, its latest state
receptions = Table(
    "receptions",
    metadata,
    Column("reception_id", String(36), primary_key=True),
    Column("case_id", String(36), nullable=False),
    Column("tracking_number", String(18), nullable=False),
    Column("region_code", String(12), nullable=False),
    Column("unit_id", String(100), nullable=False),  # the petition bureau that receives
    Column("unit_ids", JSON),  # every unit taking part, once scheduled
    Column("status", String(20), nullable=False),  # requested, scheduled, held, no_show, ...
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("starts_at", UtcDateTime()),
    Column("reschedules", Integer, nullable=False, server_default="0"),
    Column("recorded_at", UtcDateTime()),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_receptions_region", "region_code", "requested_at"),
)
