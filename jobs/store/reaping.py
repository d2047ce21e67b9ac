"""Runs left with no live owner are resolved, never left to block a schedule.

- A run STARTED longer ago than its job's hard time limit allows: the pool would have
  killed that attempt at its limit, so the process that owned it is gone (kill -9, OOM, a
  host lost) and nothing will ever finish it. Its attempt is closed as ``WORKER_LOST`` and
  the run becomes ``FAILURE``.
- A run PENDING or RETRY long past its due time: no worker took its message, which was
  lost outside Beatkeeper (a queue purged or deleted by hand). It becomes ``FAILURE`` with
  the reason.

- A run in RETRY past its retry's due time by a grace (``BEATKEEPER_RETRY_OVERDUE_SECONDS``):
  its retry message may be stranded in the broker's delayed-delivery queues (RabbitMQ 3.10
  after quorum leaders moved). It is not resolved but sent again (``jobs.worker.reaper``):
  claimed here first, so that of several reapers one sends it, and due again at the claim,
  so it is sent again at most once per grace. So is a fire the beat handed to the broker ahead
  of its time (held) and still PENDING that long past its release (the hold queues release
  by the same at-least-once dead-lettering): once, as it is then no longer held.

A run whose re-sent message vanished ``BEATKEEPER_RETRY_RESENDS_MAX`` times in a row (no
attempt started in between) is not sent again: it is dead-lettered with that reason, its
message put in its queue's DLQ, where it can be re-driven.

Either way, if the message still turns up, its delivery starts the run again (a FAILURE is
runnable): resolving never loses a run, it only stops a stale state from blocking.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from jobs.schedules.definition import fire_time
from jobs.store.attempts import Outcome
from jobs.store.runs import dead_letter_values
from jobs.store.tables import RunOrigin, run_attempts, runs, schedules

RESENT_REASON = "re-sent by the reaper: retry overdue"
RESENT_FIRE_REASON = "re-sent by the reaper: held fire overdue"


def vanished_reason(resends: int) -> str:
    return f"dead-lettered by the reaper: its message vanished {resends} times after re-sends"


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


@dataclass(frozen=True)
class OverdueRetry:
    """A run whose message is overdue (a RETRY run's retry, or a held fire never released):
    what its message is built from."""

    id: str
    job: str
    queue: str
    args: list[Any]
    kwargs: dict[str, Any]
    attempts: int
    schedule: str | None
    scheduled_for: datetime | None
    held: bool = False
    resends: int = 0  # sent again by a reaper since the run last started


def _overdue(after: float, at: datetime) -> Any:
    cutoff = at - timedelta(seconds=after)
    return or_(
        and_(runs.c.state == "RETRY", runs.c.next_retry_at < cutoff),
        # A fire the beat handed to the broker ahead of its time, still held past it.
        and_(runs.c.state == "PENDING", runs.c.held.is_(True), runs.c.scheduled_for < cutoff),
    )


def overdue_retries(conn: Connection, after: float, at: datetime, limit: int) -> list[OverdueRetry]:
    """RETRY runs whose retry was due, and held fires whose (jittered) release was due, over
    ``after`` s before ``at``; oldest first."""
    cutoff = at - timedelta(seconds=after)
    rows = conn.execute(
        select(
            runs.c.id,
            runs.c.job,
            runs.c.queue,
            runs.c.args,
            runs.c.kwargs,
            runs.c.attempts,
            runs.c.schedule,
            runs.c.scheduled_for,
            runs.c.held,
            runs.c.resends,
            schedules.c.jitter_seconds,
        )
        .select_from(runs.outerjoin(schedules, schedules.c.name == runs.c.schedule))
        .where(_overdue(after, at))
        .order_by(func.coalesce(runs.c.next_retry_at, runs.c.scheduled_for))
        .limit(limit)
    )
    return [
        OverdueRetry(
            r.id,
            r.job,
            r.queue,
            list(r.args or ()),
            dict(r.kwargs or {}),
            int(r.attempts or 0),
            r.schedule,
            r.scheduled_for,
            bool(r.held),
            int(r.resends or 0),
        )
        for r in rows
        if not r.held or _released(r.schedule, r.scheduled_for, r.jitter_seconds) < cutoff
    ]


def _released(schedule: str, nominal: datetime, jitter: int | None) -> datetime:
    return fire_time(schedule, nominal, jitter or 0)


def claim_resend(conn: Connection, run: OverdueRetry, after: float, at: datetime) -> bool:
    """Take ``run`` for a re-send if it is still overdue as read, with the reason and the
    reaper as what sent its message: a retry is due again at ``at`` (a lost re-send is sent
    again one grace later), a fire is no longer held. False: a worker or another reaper got
    there first."""
    values: dict[str, Any] = {
        "reason": RESENT_REASON,
        "origin": RunOrigin.REAPER.value,
        "resends": runs.c.resends + 1,
    }
    if run.held:
        values.update(held=False, reason=RESENT_FIRE_REASON)
    else:
        values.update(next_retry_at=at)
    result = conn.execute(
        update(runs)
        .where(runs.c.id == run.id, runs.c.attempts == run.attempts, _overdue(after, at))
        .values(**values)
    )
    return bool(result.rowcount)


def claim_dead_letter(conn: Connection, run: OverdueRetry, after: float, at: datetime) -> bool:
    """Take ``run``, whose re-sent messages kept vanishing, out of the re-send loop: it is
    FAILURE, dead-lettered, with the reason (a re-drive runs it again). False: a worker or
    another reaper got there first."""
    reason = vanished_reason(run.resends)
    result = conn.execute(
        update(runs)
        .where(runs.c.id == run.id, runs.c.attempts == run.attempts, _overdue(after, at))
        .values(**dead_letter_values(reason, at), reason=reason, origin=RunOrigin.REAPER.value)
    )
    return bool(result.rowcount)
