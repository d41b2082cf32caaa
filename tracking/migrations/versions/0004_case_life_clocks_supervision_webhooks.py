"""case life clocks supervision webhooks

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 11:05:46.729677
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "webhook_subscriptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("unit_id", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("secret", sa.String(length=500), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_webhook_subscriptions_unit_id"), ["unit_id"], unique=False
        )

    op.create_table(
        "clocks",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("unit_id", sa.String(length=100), nullable=True),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("due_soon_on", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=10), server_default="on_time", nullable=False),
        sa.Column("provisional", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("basis", sa.String(length=200), nullable=False),
        sa.Column("next_check", sa.Date(), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("met", sa.Boolean(), nullable=True),
        sa.Column("supervision_id", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.create_index("ix_clocks_case_kind", ["case_id", "kind"], unique=False)
        batch_op.create_index(
            "ix_clocks_next_check",
            ["next_check", "id"],
            unique=False,
            postgresql_where=sa.text("next_check IS NOT NULL"),
            sqlite_where=sa.text("next_check IS NOT NULL"),
        )

    op.create_table(
        "reviews",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("unit_id", sa.String(length=100), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decision_due", sa.Date(), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "stage", name="uq_reviews_case_stage"),
    )
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reviews_unit_id"), ["unit_id"], unique=False)

    op.create_table(
        "supervisions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("unit_id", sa.String(length=100), nullable=False),
        sa.Column("bureau_unit_id", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("level", sa.Integer(), server_default="0", nullable=False),
        sa.Column("status", sa.String(length=20), server_default="open", nullable=False),
        sa.Column("opened_by", sa.String(length=200), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("response_due", sa.Date(), nullable=False),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalated_from", sa.String(length=36), nullable=True),
        sa.Column("escalated_to", sa.String(length=36), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("supervisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_supervisions_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            "ix_supervisions_status_bureau", ["status", "bureau_unit_id"], unique=False
        )
        batch_op.create_index("ix_supervisions_unit", ["unit_id", "status"], unique=False)

    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("unit_id", sa.String(length=100), nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["webhook_subscriptions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription_id", "event_id", name="uq_webhook_deliveries_event"),
    )
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_webhook_deliveries_due", ["status", "next_attempt_at"], unique=False
        )
        batch_op.create_index(
            "ix_webhook_deliveries_subscription", ["subscription_id", "created_at"], unique=False
        )

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("co_unit_ids", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("review_chain", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("report_due", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("track", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reply_due", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("extension_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("extension_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(
            sa.Column("extension_approved_by", sa.String(length=100), nullable=True)
        )
        batch_op.add_column(sa.Column("reply_outcome", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("reply_text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("reply_attachments", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("leader_name", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("leader_title", sa.String(length=100), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("leader_title")
        batch_op.drop_column("leader_name")
        batch_op.drop_column("replied_at")
        batch_op.drop_column("reply_attachments")
        batch_op.drop_column("reply_text")
        batch_op.drop_column("reply_outcome")
        batch_op.drop_column("extension_approved_by")
        batch_op.drop_column("extension_reason")
        batch_op.drop_column("extension_days")
        batch_op.drop_column("reply_due")
        batch_op.drop_column("accepted_at")
        batch_op.drop_column("track")
        batch_op.drop_column("reported_at")
        batch_op.drop_column("report_due")
        batch_op.drop_column("review_chain")
        batch_op.drop_column("co_unit_ids")

    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_subscription")
        batch_op.drop_index("ix_webhook_deliveries_due")

    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("supervisions", schema=None) as batch_op:
        batch_op.drop_index("ix_supervisions_unit")
        batch_op.drop_index("ix_supervisions_status_bureau")
        batch_op.drop_index(batch_op.f("ix_supervisions_case_id"))

    op.drop_table("supervisions")
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_reviews_unit_id"))

    op.drop_table("reviews")
    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.drop_index("ix_clocks_next_check")
        batch_op.drop_index("ix_clocks_case_kind")

    op.drop_table("clocks")
    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webhook_subscriptions_unit_id"))

    op.drop_table("webhook_subscriptions")
