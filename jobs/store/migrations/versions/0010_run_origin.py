"""runs.origin: what sent a run's current message (manual, schedule, run_now, backfill,
redrive, retry), for the runs list's filter

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(
            sa.Column("origin", sa.String(10), nullable=False, server_default="manual")
        )
    # Runs stored before this column: a schedule's run counts as sent by the schedule (run
    # now and backfill were not told apart then), a re-driven one by its reason.
    op.execute("UPDATE runs SET origin = 'schedule' WHERE schedule IS NOT NULL")
    op.execute(
        "UPDATE runs SET origin = 'redrive' WHERE reason = 're-driven from the dead-letter queue'"
    )
    op.create_index("ix_runs_origin", "runs", ["origin"])


def downgrade() -> None:
    op.drop_index("ix_runs_origin", "runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("origin")
