from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from shared.db import UtcDateTime
from shared.messaging.tables import messaging_tables

metadata = MetaData()
messaging = messaging_tables(metadata)

petitions = Table(
    "petitions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tracking_number", String(18), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("channel", String(20), nullable=False),
    Column("title", String(200), nullable=False),
    Column("content", Text, nullable=False),
    Column("category", String(50)),
    Column("region_code", String(12), nullable=False),
    Column("location_address", String(300)),
    Column("accused_unit_id", String(100)),
    Column("anonymous", Boolean, nullable=False),
    Column("identity_unclear", Boolean, nullable=False),
    Column("owner_ref", String(200), index=True),
    Column("registered_by", String(200), nullable=False),
    # Identity: encrypted at rest (AES-GCM), plus a masked name and a keyed hash for matching
    Column("name_enc", Text),
    Column("id_number_enc", Text),
    Column("phone_enc", Text),
    Column("address_enc", Text),
    Column("representatives_enc", Text),
    Column("name_masked", String(60)),
    Column("id_number_hmac", String(64), index=True),
    Column("headcount", Integer, nullable=False),
    Column("attachments", JSON, nullable=False),
    Column("query_code_hash", String(200), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("submitted_at", UtcDateTime(), nullable=False),
)

tracking_sequences = Table(
    "tracking_sequences",
    metadata,
    Column("county", String(6), primary_key=True),
    Column("day", Date, primary_key=True),
    Column("last", Integer, nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("principal", String(200), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("petition_id", String(36), nullable=False),
    Column("response", JSON, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("principal", "key", name="uq_idempotency"),
)
