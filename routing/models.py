from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    true,
)

from shared.db import UtcDateTime
from shared.messaging.tables import messaging_tables

metadata = MetaData()
messaging = messaging_tables(metadata)

decisions = Table(
    "routing_decisions",
    metadata,
    Column("case_id", String(36), primary_key=True),
    Column("tracking_number", String(18), nullable=False),
    Column("unit_id", String(100), nullable=False, index=True),
    Column("function", String(50), nullable=False),
    Column("region_code", String(12), nullable=False),
    Column("level", String(20), nullable=False),
    Column("rule", String(100), nullable=False),
    Column("explanation", Text, nullable=False),
    Column("decided_at", UtcDateTime(), nullable=False),
    Column("outcome", String(20), nullable=False, server_default="routed"),
    Column("co_unit_ids", JSON),
    Column("notify_unit_ids", JSON),
    Column("major", Boolean, nullable=False, server_default=false()),
    Column("path", JSON),
    Column("excluded", JSON),
    # What the rules read (kind, category, region, accused unit, head count): a re-routing
    # after an objection decides again from the same facts
    Column("inputs", JSON),
    # Moves after the first decision; the current one's number (0: the first decision)
    Column("revision", Integer, nullable=False, server_default="0"),
    Column("transfers", Integer, nullable=False, server_default="0"),
    Column("objected_unit_ids", JSON),
    Column("objection_allowed", Boolean, nullable=False, server_default=true()),
    # The case's status as tracking last announced it (tracking.case.status_changed)
    Column("case_status", String(30)),
)

# Every decision a case went through: the first one, then each move (objection, operator,
# transfer cap), with who moved it and why
moves = Table(
    "routing_moves",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("case_id", String(36), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("cause", String(20), nullable=False),
    Column("outcome", String(20), nullable=False),
    Column("unit_id", String(100), nullable=False),
    Column("previous_unit_id", String(100)),
    Column("actor", String(200), nullable=False),
    Column("reason", String(500)),
    Column("rule", String(100), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    UniqueConstraint("case_id", "revision", name="uq_routing_moves_case_revision"),
)


# The unit directory: generated from the region data (routing.directory), then kept by operators
units = Table(
    "units",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("region_code", String(12), nullable=False),
    Column("level", String(20), nullable=False),
    Column("function", String(50), nullable=False),
    Column("parent_id", String(100)),
    Column("status", String(20), nullable=False, server_default="active"),
    Column("successor_id", String(100)),
    Column("origin", String(20), nullable=False, server_default="generated"),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_units_region_function", "region_code", "function"),
    Index("ix_units_level_function", "level", "function"),
)

# Every change to the directory: generated seeds and operators' edits (who, when, what, why)
unit_changes = Table(
    "unit_changes",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("unit_id", String(100), nullable=False, index=True),
    Column("action", String(20), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("reason", String(300)),
    Column("before", JSON),
    Column("after", JSON),
    Column("at", UtcDateTime(), nullable=False),
)

directory_state = Table(
    "directory_state",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("value", String(200), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
)
