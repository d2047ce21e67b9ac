"""indexes on attempt and run times: the change feed reads what started or finished lately

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_run_attempts_started", "run_attempts", ["started_at"])
    op.create_index("ix_run_attempts_finished", "run_attempts", ["finished_at"])
    op.create_index("ix_runs_finished", "runs", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_finished", "runs")
    op.drop_index("ix_run_attempts_finished", "run_attempts")
    op.drop_index("ix_run_attempts_started", "run_attempts")
