from __future__ import annotations

from sqlalchemy import Boolean, Column, Date, MetaData, String, Table

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
)
