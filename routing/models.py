from __future__ import annotations

from sqlalchemy import Column, MetaData, String, Table, Text

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
)
