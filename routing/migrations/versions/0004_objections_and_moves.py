"""objections and moves

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 10:47:22.503503
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
        "routing_moves",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("cause", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("unit_id", sa.String(length=100), nullable=False),
        sa.Column("previous_unit_id", sa.String(length=100), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("rule", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "revision", name="uq_routing_moves_case_revision"),
    )
    with op.batch_alter_table("routing_decisions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("inputs", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("revision", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("transfers", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("objected_unit_ids", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("objection_allowed", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
        batch_op.add_column(sa.Column("case_status", sa.String(length=30), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("routing_decisions", schema=None) as batch_op:
        batch_op.drop_column("case_status")
        batch_op.drop_column("objection_allowed")
        batch_op.drop_column("objected_unit_ids")
        batch_op.drop_column("transfers")
        batch_op.drop_column("revision")
        batch_op.drop_column("inputs")

    op.drop_table("routing_moves")
