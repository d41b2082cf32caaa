"""objection clock and routing revision

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 10:47:24.041561
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("objection_due", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("objection_allowed", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("routing_revision", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("transfers", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("transfers")
        batch_op.drop_column("routing_revision")
        batch_op.drop_column("objection_allowed")
        batch_op.drop_column("objection_due")
