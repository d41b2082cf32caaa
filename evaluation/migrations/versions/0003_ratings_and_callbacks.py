"""ratings and call-back tasks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ratings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("tracking_number", sa.String(length=18), nullable=False),
        sa.Column("moment", sa.String(length=20), nullable=False),
        sa.Column("unit_id", sa.String(length=100), nullable=True),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_closes", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("level", sa.String(length=30), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("rated_by", sa.String(length=20), nullable=True),
        sa.Column("rated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changes", sa.Integer(), server_default="0", nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "moment", name="uq_ratings_case_moment"),
    )
    op.create_index("ix_ratings_state_window", "ratings", ["state", "window_closes"])
    op.create_index("ix_ratings_unit_id", "ratings", ["unit_id"])

    op.create_table(
        "callbacks",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("rating_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("tracking_number", sa.String(length=18), nullable=False),
        sa.Column("moment", sa.String(length=20), nullable=False),
        sa.Column("unit_id", sa.String(length=100), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(length=200), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("on_time", sa.Boolean(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["rating_id"], ["ratings.id"], name="fk_callbacks_rating_id"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_callbacks_rating_id", "callbacks", ["rating_id"])
    op.create_index("ix_callbacks_case_id", "callbacks", ["case_id"])
    op.create_index("ix_callbacks_unit", "callbacks", ["unit_id", "due", "id"])
    op.create_index("ix_callbacks_status_due", "callbacks", ["status", "due"])


def downgrade() -> None:
    op.drop_index("ix_callbacks_status_due", table_name="callbacks")
    op.drop_index("ix_callbacks_unit", table_name="callbacks")
    op.drop_index("ix_callbacks_case_id", table_name="callbacks")
    op.drop_index("ix_callbacks_rating_id", table_name="callbacks")
    op.drop_table("callbacks")
    op.drop_index("ix_ratings_unit_id", table_name="ratings")
    op.drop_index("ix_ratings_state_window", table_name="ratings")
    op.drop_table("ratings")
