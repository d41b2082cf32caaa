"""themed channels, grid workers' reports and receptions in analytics

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The counters evaluation/scorecard.py MEASURES gained in this revision
MEASURES = ("themed", "proactive", "proactive_replied", "proactive_concluded")


def upgrade() -> None:
    with op.batch_alter_table("case_reads") as batch:
        batch.add_column(sa.Column("theme", sa.String(length=40), nullable=True))
        batch.add_column(
            sa.Column("proactive", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("scorecard_rollups") as batch:
        for measure in MEASURES:
            batch.add_column(sa.Column(measure, sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "receptions",
        sa.Column("reception_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("tracking_number", sa.String(length=18), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("unit_id", sa.String(length=100), nullable=False),
        sa.Column("unit_ids", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reschedules", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("reception_id"),
    )
    op.create_index("ix_receptions_region", "receptions", ["region_code", "requested_at"])


def downgrade() -> None:
    op.drop_index("ix_receptions_region", table_name="receptions")
    op.drop_table("receptions")
    with op.batch_alter_table("scorecard_rollups") as batch:
        for measure in MEASURES:
            batch.drop_column(measure)
    with op.batch_alter_table("case_reads") as batch:
        batch.drop_column("proactive")
        batch.drop_column("theme")
