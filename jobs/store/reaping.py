"""Runs left with no live owner are resolved, never left to block a schedule.

- A run STARTED longer ago than its job's hard time limit allows: the pool would have
  killed that attempt at its limit, so the process that owned it is gone (kill -9, OOM, a
  host lost) and nothing will ever finish it. Its attempt is closed as ``WORKER_LOST`` and
  the run becomes ``FAILURE``.
- A run PENDING or RETRY long past its due time: no worker took its message, which was
  lost outside Beatkeeper (a queue purged or deleted by hand). It becomes ``FAILURE`` with
  the reason.

Either way, if the message still turns up, its delivery starts the run again (a FAILURE is
runnable): resolving never loses a run, it only stops a stale state from blocking.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, func, or_, select, update

from jobs.store.attempts import Outcome
from jobs.store.tables import run_attempts, runs


def reap_started(conn: Connection, job: str | None, limit: float, at: datetime) -> int:
    """Resolve STARTED runs of ``job`` (None: every job) started over ``limit`` s before."""
    cutoff = at - timedelta(seconds=limit)
    stale = [runs.c.state == "STARTED", runs.c.started_at < cutoff]
    if job is not None:
        stale.append(runs.c.job == job)
    error = f"worker lost: no live owner {limit:.0f} s after the attempt started"
    ids = select(runs.c.id).where(*stale)
    conn.execute(
        update(run_attempts)
        .where(run_attempts.c.run_id.in_(ids), run_attempts.c.finished_at.is_(None))
        .values(finished_at=at, outcome=Outcome.WORKER_LOST.value, error=error)
    )
    result = conn.execute(
        update(runs).where(*stale).values(state="FAILURE", finished_at=at, error=error)
    )
    return int(result.rowcount or 0)


def reap_waiting(conn: Connection, after: float, at: datetime) -> int:
    """Resolve PENDING and RETRY runs whose due time passed over ``after`` s ago."""
    cutoff = at - timedelta(seconds=after)
    due = func.coalesce(runs.c.next_retry_at, runs.c.scheduled_for, runs.c.enqueued_at)
    stale = and_(
        or_(runs.c.state == "PENDING", runs.c.state == "RETRY"),
        due < cutoff,
    )
    error = f"lost: no worker took its message within {after:.0f} s of its due time"
    result = conn.execute(
        update(runs).where(stale).values(state="FAILURE", finished_at=at, error=error, held=False)
    )
    return int(result.rowcount or 0)
