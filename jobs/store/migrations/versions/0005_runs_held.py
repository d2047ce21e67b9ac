"""runs.held: a fire the beat handed to the broker ahead of its time (was a reason sentence)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# The sentence that flagged such fires before this column existed (jobs/store/runs.py).
HELD_REASON = "sent ahead; held by the broker until due"


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(
            sa.Column("held", sa.Boolean, nullable=False, server_default=sa.false())
        )
    runs = sa.table("runs", sa.column("held", sa.Boolean), sa.column("reason", sa.Text))
    op.execute(runs.update().where(runs.c.reason == HELD_REASON).values(held=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("held")
