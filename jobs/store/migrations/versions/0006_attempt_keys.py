"""run_attempts: which delivery of which retry message an attempt was

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # An execution is identified by the retry message it ran (Celery's ``retries``) and by
    # the delivery of that message (the quorum queue's ``x-delivery-count``): a redelivery
    # after a worker died is a new attempt, and events written late (from a worker's outbox)
    # still find their own attempt.
    with op.batch_alter_table("run_attempts") as batch:
        batch.add_column(sa.Column("retry", sa.Integer))
        batch.add_column(sa.Column("delivery", sa.Integer))
        batch.create_index("ix_run_attempts_key", ["run_id", "retry", "delivery"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("run_attempts") as batch:
        batch.drop_index("ix_run_attempts_key")
        batch.drop_column("delivery")
        batch.drop_column("retry")
