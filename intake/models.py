from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
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
    Column("category_source", String(20), nullable=False, server_default="petitioner"),
    Column("legal_channel", String(50)),
    Column("region_code", String(12), nullable=False),
    Column("location_address", String(300)),
    Column("accused_unit_id", String(100)),
    Column("anonymous", Boolean, nullable=False),
    Column("identity_unclear", Boolean, nullable=False),
    Column("owner_ref", String(200), index=True),
    # Who the petitioner is for repeat matching: "acct:<subject>" or "id:<ID-number HMAC>"
    Column("petitioner_key", String(100), index=True),
    Column("repeat_outcome", String(30)),
    Column("repeat_of", String(36)),
    Column("collective_id", String(36), index=True),
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
    # Themed channel (专题通道): its code, the priority it gave, the unit its overrides named,
    # and the answers to its form (encrypted: they may describe the petitioner)
    Column("theme", String(40), index=True),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("routing_unit_id", String(100)),
    Column("theme_fields_enc", Text),
    # Reported by a grid worker (源头化解); the village (12 digits) when the region directory
    # knows only its township
    Column("proactive", Boolean, nullable=False, server_default=false()),
    Column("village_code", String(12)),
)

# Themed channels (专题通道) opened by operators, with their own form fields and routing
themed_channels = Table(
    "themed_channels",
    metadata,
    Column("code", String(40), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("description", Text),
    Column("region_code", String(12)),
    Column("opens_at", UtcDateTime(), nullable=False),
    Column("closes_at", UtcDateTime()),
    Column("closed_at", UtcDateTime()),
    Column("default_category", String(50)),
    Column("priority", Integer, nullable=False),
    Column("target_response_hours", Integer),
    Column("fields", JSON, nullable=False),
    Column("routing_overrides", JSON, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Case status as tracking announces it: repeats need to know whether an earlier case is open
case_states = Table(
    "case_states",
    metadata,
    Column("petition_id", String(36), primary_key=True),
    Column("status", String(30), nullable=False),
    Column("unit_id", String(100)),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# MinHash bands of recent petitions, for finding collective petitions with one indexed query
petition_bands = Table(
    "petition_bands",
    metadata,
    Column("petition_id", String(36), primary_key=True),
    Column("band", Integer, primary_key=True),
    Column("hash", BigInteger, nullable=False),
    Column("county", String(6), nullable=False),
    Column("petitioner_key", String(100)),
    Column("submitted_at", UtcDateTime(), nullable=False),
    Index("ix_bands_lookup", "county", "band", "hash"),
)

# Every clear-text read of a petitioner's identity: who, when, why (PROCEDURE §9)
pii_access_log = Table(
    "pii_access_log",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("petition_id", String(36), nullable=False, index=True),
    Column("actor", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("unit_id", String(100)),
    Column("reason", String(300), nullable=False),
    Column("fields", JSON, nullable=False),
    Column("request_id", String(100)),
    Column("at", UtcDateTime(), nullable=False),
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
