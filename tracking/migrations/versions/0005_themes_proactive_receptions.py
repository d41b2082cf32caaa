"""themed channels, proactive cases, precise clocks, video receptions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 20:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("theme", sa.String(length=50), nullable=True))
        batch_op.add_column(sa.Column("priority", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("target_response_hours", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("theme_fields", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("proactive", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("representatives", sa.Integer(), server_default="0", nullable=False)
        )

    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", sa.DateTime(timezone=True), nullable=True))

    op.create_table(
        "receptions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("tracking_number", sa.String(length=18), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("bureau_unit_id", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_by", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("slots", sa.JSON(), nullable=True),
        sa.Column("duration_minutes", sa.Integer(), server_default="60", nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("meeting_url", sa.String(length=2000), nullable=True),
        sa.Column("unit_ids", sa.JSON(), nullable=True),
        sa.Column("reschedules", sa.Integer(), server_default="0", nullable=False),
        sa.Column("reminders_sent", sa.JSON(), nullable=True),
        sa.Column("attendees", sa.JSON(), nullable=True),
        sa.Column("minutes", sa.Text(), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("actions", sa.JSON(), nullable=True),
        sa.Column("cancel_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("receptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_receptions_case_id"), ["case_id"], unique=False)
        batch_op.create_index("ix_receptions_status_starts", ["status", "starts_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("receptions", schema=None) as batch_op:
        batch_op.drop_index("ix_receptions_status_starts")
        batch_op.drop_index(batch_op.f("ix_receptions_case_id"))
    op.drop_table("receptions")

    with op.batch_alter_table("clocks", schema=None) as batch_op:
        batch_op.drop_column("due_at")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("representatives")
        batch_op.drop_column("proactive")
        batch_op.drop_column("theme_fields")
        batch_op.drop_column("target_response_hours")
        batch_op.drop_column("priority")
        batch_op.drop_column("theme")
