"""Table definitions (SQLAlchemy Core); Alembic migrations create them."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
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
    false,
)

from jobs.store.db import UTCDateTime

metadata = MetaData()


class RunState(StrEnum):
    PENDING = "PENDING"
    STARTED = "STARTED"
    RETRY = "RETRY"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    SKIPPED = "SKIPPED"  # a scheduled fire not sent (overlap policy); recorded with its reason
    CANCELLED = "CANCELLED"  # a fire sent ahead of time whose schedule changed before it was due
    EXPIRED = "EXPIRED"  # no worker started it before it expired


RUN_STATES = tuple(RunState)


class RunOrigin(StrEnum):
    """What sent a run's current message."""

    MANUAL = "manual"  # the API, the form or the CLI
    SCHEDULE = "schedule"  # the beat, at its time
    RUN_NOW = "run_now"  # "run now" on a schedule
    BACKFILL = "backfill"  # a backfill of a schedule's missed fires
    REDRIVE = "redrive"  # moved back from its dead-letter queue
    RETRY = "retry"  # sent again after it failed, by a retry action
    REAPER = "reaper"  # sent again by the reaper: its retry message was overdue


RUN_ORIGINS = tuple(RunOrigin)
DONE_STATES = (
    RunState.SUCCESS,
    RunState.FAILURE,
    RunState.SKIPPED,
    RunState.CANCELLED,
    RunState.EXPIRED,
)

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
    Column("schedule", String(200)),
    Column("scheduled_for", UTCDateTime),
    Column("published_at", UTCDateTime),
    Column("reason", Text),
    # A fire the beat handed to the broker ahead of its time, not started yet: only such
    # fires are cancelled when their schedule changes.
    Column("held", Boolean, nullable=False, default=False, server_default=false()),
    Column("origin", String(10), nullable=False, default="manual", server_default="manual"),
    # Re-sends of an overdue message by the reaper since the run last started.
    Column("resends", Integer, nullable=False, default=0, server_default="0"),
    Index("ix_runs_job_enqueued", "job", "enqueued_at"),
    Index("ix_runs_schedule_for", "schedule", "scheduled_for"),
    Index("ix_runs_state", "state"),
    Index("ix_runs_enqueued", "enqueued_at"),
    Index("ix_runs_finished", "finished_at"),  # the change feed (jobs/monitoring/changes.py)
    Index("ix_runs_origin", "origin"),
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
    # (retry, delivery) names one execution: Celery's retries and x-delivery-count.
    Column("retry", Integer),
    Column("delivery", Integer),
    # The process that ran it ("host/pid/start ticks", see jobs.worker.owners).
    Column("owner", String(200)),
    Index("ix_run_attempts_key", "run_id", "retry", "delivery", unique=True),
    Index("ix_run_attempts_started", "started_at"),  # the change feed
    Index("ix_run_attempts_finished", "finished_at"),
)

# One row per live worker process, beaten every few seconds: a redelivery on another host
# knows from it whether the process running an attempt is still alive.
worker_heartbeats = Table(
    "worker_heartbeats",
    metadata,
    Column("owner", String(200), primary_key=True),
    Column("beat_at", UTCDateTime, nullable=False),
)

schedules = Table(
    "schedules",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("job", String(200), nullable=False),
    Column("args", JSON, nullable=False),
    Column("kwargs", JSON, nullable=False),
    Column("queue", String(200)),
    Column("priority", Integer),
    Column("trigger", String(10), nullable=False),  # cron | interval | once
    Column("cron", String(200)),
    Column("interval_seconds", Integer),
    Column("run_at", UTCDateTime),
    Column("timezone", String(64), nullable=False),
    Column("expires_seconds", Integer),
    Column("jitter_seconds", Integer, nullable=False),
    Column("catch_up", String(10), nullable=False),
    Column("catch_up_window_seconds", Integer, nullable=False),
    Column("overlap", String(12), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("changed_by", String(200)),
    Column("changed_at", UTCDateTime),
    Column("change_reason", Text),
    Column("source", String(10), nullable=False),  # code | runtime
    Column("edited_at", UTCDateTime),  # set by runtime edits; code sync then leaves it alone
    Column("created_at", UTCDateTime, nullable=False),
    # Every definition change takes the next value of scheduler_state.version; the
    # beat reads only rows whose version is newer than the last one it saw.
    Column("version", Integer, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("anchor", UTCDateTime, nullable=False),
    Column("next_fire_at", UTCDateTime),
    Column("last_fire_at", UTCDateTime),
    Column("last_run_id", String(64)),
    Column("fired_count", Integer, nullable=False),
    Column("skipped_count", Integer, nullable=False),
    Column("missed_count", Integer, nullable=False),
    # Seconds past a due fire before the schedule counts as late; null: the default grace.
    Column("grace_seconds", Integer),
    Index("ix_schedules_version", "version"),
)

scheduler_state = Table(
    "scheduler_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

# Leadership of the beat: one row per lease name. ``epoch`` grows by one at every change of
# leader and is the fencing token: a fire is recorded only in a transaction that finds the
# epoch its beat acquired (see jobs/store/lease.py).
beat_lease = Table(
    "beat_lease",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(200)),
    Column("epoch", BigInteger, nullable=False),
    Column("acquired_at", UTCDateTime),  # leader since
    Column("renewed_at", UTCDateTime),
    Column("expires_at", UTCDateTime),
    Column("evaluated_at", UTCDateTime),  # the last tick that evaluated schedules
)

# Metrics counted once for every web process (jobs/store/metric_totals.py): the running total
# of each series, and what the counting process last flushed (its lease epoch, a flush number,
# and the newest change time it has counted).
metric_totals = Table(
    "metric_totals",
    metadata,
    Column("metric", String(200), primary_key=True),
    Column("labels", Text, primary_key=True),  # canonical JSON: keys sorted, no spaces
    Column("value", Float, nullable=False),
)

metric_marks = Table(
    "metric_marks",
    metadata,
    Column("name", String(64), primary_key=True),  # the lease's name
    Column("epoch", BigInteger, nullable=False),
    Column("seq", BigInteger, nullable=False),  # flushes committed in that epoch
    Column("counted_through", UTCDateTime),
)

# Rows the health check writes to prove the store takes writes (a SELECT 1 passes under a
# held SQLite write lock).
heartbeats = Table(
    "heartbeats",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
)

# The last health state each schedule was seen in (jobs/monitoring/notify.py): a change is
# claimed by the one process whose conditional UPDATE moves it, so one webhook goes out.
schedule_health = Table(
    "schedule_health",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("state", String(10), nullable=False),
    Column("reason", Text),
    Column("since", UTCDateTime, nullable=False),
)

# One row per webhook call for a health change, with its retries.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("schedule", String(200), nullable=False),
    Column("old_state", String(10), nullable=False),
    Column("new_state", String(10), nullable=False),
    Column("url", Text, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("status", String(10), nullable=False),  # pending | delivered | failed
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime),
    Column("claimed_until", UTCDateTime),
    Column("delivered_at", UTCDateTime),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    Index("ix_webhook_deliveries_schedule", "schedule", "created_at"),
)

# Who changed what, when: one row per change to a schedule, a policy, a user or a token,
# written in the transaction of the change itself (jobs/store/audit.py).
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(32), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("subject", String(200), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Column("reason", Text),
    Index("ix_audit_log_at", "at"),
    Index("ix_audit_log_subject", "kind", "subject", "at"),
    Index("ix_audit_log_actor", "actor", "at"),
)

# People who sign in to the UI (webapp/auth). ``session_epoch`` grows when the password or
# role changes or the user is removed, so sessions signed before no longer count.
users = Table(
    "users",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("role", String(16), nullable=False),  # viewer | operator | admin
    Column("password_hash", String(200), nullable=False),  # argon2id, PHC string
    Column("session_epoch", Integer, nullable=False, default=0),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# API bearer tokens: only the SHA-256 of a high-entropy random token is kept (it is shown
# once); ``prefix`` (its first characters) lets a person tell tokens apart in a list.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("scopes", String(200), nullable=False),  # space-separated: read enqueue schedules admin
    Column("created_by", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),
)
