"""schedules.grace_seconds: how long past a due fire a schedule counts as late

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Null means the default grace (jobs/monitoring/health.py: max(60 s, 10 % of the period)).
    with op.batch_alter_table("schedules") as batch:
        batch.add_column(sa.Column("grace_seconds", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("schedules") as batch:
        batch.drop_column("grace_seconds")
