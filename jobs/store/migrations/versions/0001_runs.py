"""runs and run_attempts

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from jobs.store.db import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("job", sa.String(200), nullable=False),
        sa.Column("queue", sa.String(200), nullable=False),
        sa.Column("args", sa.JSON, nullable=False),
        sa.Column("kwargs", sa.JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("enqueued_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("next_retry_at", UTCDateTime),
        sa.Column("runtime_ms", sa.Float),
        sa.Column("result", sa.JSON),
        sa.Column("error", sa.Text),
        sa.Column("traceback", sa.Text),
        sa.Column("dead_lettered", sa.Boolean, nullable=False),
        sa.Column("worker", sa.String(200)),
    )
    op.create_index("ix_runs_job_enqueued", "runs", ["job", "enqueued_at"])
    op.create_index("ix_runs_state", "runs", ["state"])
    op.create_index("ix_runs_enqueued", "runs", ["enqueued_at"])
    op.create_table(
        "run_attempts",
        sa.Column(
            "run_id",
            sa.String(64),
            sa.ForeignKey("runs.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("outcome", sa.String(16)),
        sa.Column("error", sa.Text),
        sa.Column("retry_in", sa.Float),
        sa.Column("worker", sa.String(200)),
    )


def downgrade() -> None:
    op.drop_table("run_attempts")
    op.drop_table("runs")
