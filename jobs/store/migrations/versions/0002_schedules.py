"""schedules, the change counter, and schedule columns on runs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

from jobs.store.db import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("job", sa.String(200), nullable=False),
        sa.Column("args", sa.JSON, nullable=False),
        sa.Column("kwargs", sa.JSON, nullable=False),
        sa.Column("queue", sa.String(200)),
        sa.Column("priority", sa.Integer),
        sa.Column("trigger", sa.String(10), nullable=False),
        sa.Column("cron", sa.String(200)),
        sa.Column("interval_seconds", sa.Integer),
        sa.Column("run_at", UTCDateTime),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("expires_seconds", sa.Integer),
        sa.Column("jitter_seconds", sa.Integer, nullable=False),
        sa.Column("catch_up", sa.String(10), nullable=False),
        sa.Column("catch_up_window_seconds", sa.Integer, nullable=False),
        sa.Column("overlap", sa.String(12), nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("changed_by", sa.String(200)),
        sa.Column("changed_at", UTCDateTime),
        sa.Column("change_reason", sa.Text),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("edited_at", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("anchor", UTCDateTime, nullable=False),
        sa.Column("next_fire_at", UTCDateTime),
        sa.Column("last_fire_at", UTCDateTime),
        sa.Column("last_run_id", sa.String(64)),
        sa.Column("fired_count", sa.Integer, nullable=False),
        sa.Column("skipped_count", sa.Integer, nullable=False),
        sa.Column("missed_count", sa.Integer, nullable=False),
    )
    op.create_index("ix_schedules_version", "schedules", ["version"])
    op.create_table(
        "scheduler_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(
        sa.table("scheduler_state", sa.column("key", sa.String), sa.column("value", sa.BigInteger)),
        [{"key": "version", "value": 0}],
    )
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("schedule", sa.String(200)))
        batch.add_column(sa.Column("scheduled_for", UTCDateTime))
        batch.add_column(sa.Column("published_at", UTCDateTime))
        batch.add_column(sa.Column("reason", sa.Text))
    op.create_index("ix_runs_schedule_for", "runs", ["schedule", "scheduled_for"])


def downgrade() -> None:
    op.drop_index("ix_runs_schedule_for", "runs")
    with op.batch_alter_table("runs") as batch:
        for column in ("reason", "published_at", "scheduled_for", "schedule"):
            batch.drop_column(column)
    op.drop_table("scheduler_state")
    op.drop_index("ix_schedules_version", "schedules")
    op.drop_table("schedules")
