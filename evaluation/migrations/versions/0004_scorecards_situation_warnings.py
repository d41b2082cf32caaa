"""scorecard rollups, situation counts and warnings

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The counters of evaluation/scorecard.py MEASURES as of this revision (a later measure is a
# later migration)
MEASURES = (
    "petitions",
    "received",
    "repeated",
    "accepted",
    "acceptance_judged",
    "accepted_on_time",
    "replied",
    "reply_judged",
    "replied_on_time",
    "handling_days",
    "extended",
    "concluded",
    "backlog",
    "backlog_resolved",
    "supervisions",
    "rated",
    "satisfied",
    "basically_satisfied",
    "dissatisfied",
    "not_rated",
)


def upgrade() -> None:
    op.create_table(
        "scorecard_cases",
        sa.Column("case_id", sa.String(length=36), nullable=False),
        sa.Column("acceptance_overdue_unit", sa.String(length=100), nullable=True),
        sa.Column("acceptance_overdue_due", sa.Date(), nullable=True),
        sa.Column("handling_overdue_unit", sa.String(length=100), nullable=True),
        sa.Column("handling_overdue_due", sa.Date(), nullable=True),
        sa.Column("acceptance_rating", sa.String(length=30), nullable=True),
        sa.Column("reply_rating", sa.String(length=30), nullable=True),
        sa.Column("backlog_from", sa.Date(), nullable=True),
        sa.Column("applied", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_index(
        "ix_scorecard_cases_backlog_from", "scorecard_cases", ["backlog_from"], unique=False
    )
    op.create_table(
        "scorecard_rollups",
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("scope_id", sa.String(length=100), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        *(sa.Column(m, sa.Integer(), server_default="0", nullable=False) for m in MEASURES),
        sa.PrimaryKeyConstraint("scope", "scope_id", "day", "category"),
    )
    op.create_table(
        "analytics_warnings",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("region_code", sa.String(length=12), nullable=False),
        sa.Column("region_level", sa.String(length=20), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("baseline_days", sa.Integer(), nullable=False),
        sa.Column("baseline_mean", sa.Float(), nullable=False),
        sa.Column("baseline_sd", sa.Float(), nullable=False),
        sa.Column("z_score", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("min_count", sa.Integer(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("region_code", "category", "day", name="uq_analytics_warnings"),
    )
    op.create_index("ix_analytics_warnings_day", "analytics_warnings", ["day"], unique=False)
    op.create_index("ix_case_reads_repeat_of", "case_reads", ["repeat_of"], unique=False)
    op.create_index(
        "ix_case_reads_collective",
        "case_reads",
        ["received_at"],
        unique=False,
        postgresql_where=sa.text("collective_id IS NOT NULL"),
        sqlite_where=sa.text("collective_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_case_reads_collective", table_name="case_reads")
    op.drop_index("ix_case_reads_repeat_of", table_name="case_reads")
    op.drop_index("ix_analytics_warnings_day", table_name="analytics_warnings")
    op.drop_table("analytics_warnings")
    op.drop_table("scorecard_rollups")
    op.drop_index("ix_scorecard_cases_backlog_from", table_name="scorecard_cases")
    op.drop_table("scorecard_cases")
