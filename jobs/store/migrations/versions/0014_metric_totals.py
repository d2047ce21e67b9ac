"""metric_totals and metric_marks: the feed-derived Prometheus counters and histograms,
counted by one web process and read by all

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from jobs.store.db import UTCDateTime

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_totals",
        sa.Column("metric", sa.String(200), primary_key=True),
        sa.Column("labels", sa.Text, primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
    )
    op.create_table(
        "metric_marks",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("epoch", sa.BigInteger, nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("counted_through", UTCDateTime),
    )


def downgrade() -> None:
    op.drop_table("metric_marks")
    op.drop_table("metric_totals")
