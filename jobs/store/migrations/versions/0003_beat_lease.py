"""the beat's leadership lease and the store's heartbeat rows

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

from jobs.store.db import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "beat_lease",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(200)),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("acquired_at", UTCDateTime),
        sa.Column("renewed_at", UTCDateTime),
        sa.Column("expires_at", UTCDateTime),
        sa.Column("evaluated_at", UTCDateTime),
    )
    op.bulk_insert(
        sa.table("beat_lease", sa.column("name", sa.String), sa.column("epoch", sa.BigInteger)),
        [{"name": "beat", "epoch": 0}],
    )
    op.create_table(
        "heartbeats",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("at", UTCDateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("heartbeats")
    op.drop_table("beat_lease")
