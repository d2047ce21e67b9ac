"""run_attempts.owner and worker_heartbeats: which process runs an attempt, and is it alive

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from jobs.store.db import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A redelivered message whose attempt is still running in a live process (its ack was
    # lost with a broker connection) waits for that owner instead of running again.
    with op.batch_alter_table("run_attempts") as batch:
        batch.add_column(sa.Column("owner", sa.String(200)))
    op.create_table(
        "worker_heartbeats",
        sa.Column("owner", sa.String(200), primary_key=True),
        sa.Column("beat_at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("worker_heartbeats")
    with op.batch_alter_table("run_attempts") as batch:
        batch.drop_column("owner")
