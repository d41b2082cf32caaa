from __future__ import annotations

from sqlalchemy import (
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
    Column("repeat_of", String(36)),
    Column("repeat_of_tracking_number", String(18)),
    Column("collective_id", String(36), index=True),
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
