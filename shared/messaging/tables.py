"""The messaging tables every service database has: outbox, inbox and parked events."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from shared.db import UtcDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")


@dataclass(frozen=True)
class MessagingTables:
    outbox: Table
    inbox: Table
    parked: Table


def messaging_tables(metadata: MetaData) -> MessagingTables:
    outbox = Table(
        "outbox",
        metadata,
        # Autoincrement id = commit order of the writer, which the relay publishes in.
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("type", String(200), nullable=False),
        Column("value", Text, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("sent_at", UtcDateTime()),
        Column("partition", Integer),
        Column("offset", BigInteger),
        Column("attempts", Integer, nullable=False, default=0),
        Column("last_error", Text),
        Index("ix_outbox_unsent", "sent_at", "id"),
    )
    inbox = Table(
        "inbox",
        metadata,
        Column("consumer_group", String(200), primary_key=True),
        Column("event_id", String(64), primary_key=True),
        Column("type", String(200), nullable=False),
        Column("processed_at", UtcDateTime(), nullable=False),
    )
    parked = Table(
        "parked_events",
        metadata,
        Column("id", BigId, primary_key=True, autoincrement=True),
        Column("consumer_group", String(200), nullable=False),
        Column("subject", String(200), nullable=False),
        Column("event_id", String(64), nullable=False),
        Column("type", String(200), nullable=False),
        Column("value", Text, nullable=False),
        Column("reason", Text, nullable=False),
        Column("parked_at", UtcDateTime(), nullable=False),
        UniqueConstraint("consumer_group", "event_id", name="uq_parked_event"),
        Index("ix_parked_subject", "consumer_group", "subject", "id"),
    )
    return MessagingTables(outbox=outbox, inbox=inbox, parked=parked)
