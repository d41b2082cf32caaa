"""case facts for ratings and scorecards

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 11:49:43.376671
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("case_reads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("received_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("owner_ref", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("query_code_hash", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("repeat_of", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("collective_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("track", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("reply_due", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("extension_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("concluded_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("supervision_count", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:

    with op.batch_alter_table("case_reads", schema=None) as batch_op:
        batch_op.drop_column("supervision_count")
        batch_op.drop_column("concluded_at")
        batch_op.drop_column("replied_at")
        batch_op.drop_column("extension_days")
        batch_op.drop_column("reply_due")
        batch_op.drop_column("accepted_at")
        batch_op.drop_column("track")
        batch_op.drop_column("collective_id")
        batch_op.drop_column("repeat_of")
        batch_op.drop_column("query_code_hash")
        batch_op.drop_column("owner_ref")
        batch_op.drop_column("received_at")
