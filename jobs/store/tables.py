"""Table definitions (SQLAlchemy Core); Alembic migrations create them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from jobs.store.db import UTCDateTime

metadata = MetaData()

RUN_STATES = ("PENDING", "STARTED", "RETRY", "SUCCESS", "FAILURE")

runs = Table(
    "runs",
    metadata,
    # The run id is also the Celery task id and the AMQP message_id: one id end to end.
    Column("id", String(64), primary_key=True),
    Column("job", String(200), nullable=False),
    Column("queue", String(200), nullable=False),
    Column("args", JSON, nullable=False),
    Column("kwargs", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("enqueued_at", UTCDateTime, nullable=False),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("next_retry_at", UTCDateTime),
    Column("runtime_ms", Float),
    Column("result", JSON),
    Column("error", Text),
    Column("traceback", Text),
    Column("dead_lettered", Boolean, nullable=False, default=False),
    Column("worker", String(200)),
    Index("ix_runs_job_enqueued", "job", "enqueued_at"),
    Index("ix_runs_state", "state"),
    Index("ix_runs_enqueued", "enqueued_at"),
)

run_attempts = Table(
    "run_attempts",
    metadata,
    Column("run_id", String(64), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("outcome", String(16)),
    Column("error", Text),
    Column("retry_in", Float),
    Column("worker", String(200)),
)
