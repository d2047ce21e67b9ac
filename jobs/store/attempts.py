"""Attempts: one row per execution of a run, written by workers.

An execution is named by an :class:`AttemptKey`: the retry message it ran (Celery's
``retries``) and which delivery of that message it was (the quorum queue's
``x-delivery-count``). A redelivery after a worker died is therefore a new attempt, and
the attempt it replaces, still open, is closed as ``WORKER_LOST``.

Every write here is idempotent and order-tolerant, because the events may reach the
store late and more than once (from a worker's outbox, see ``jobs.worker.outbox``): a
repeated event changes nothing, and an event of an older attempt never overwrites the
run state that a newer attempt set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from jobs.store.tables import run_attempts, runs

# States in which a delivered message must not run (re-driven FAILUREs do run again).
NOT_RUNNABLE = ("CANCELLED", "SUCCESS", "SKIPPED")
WORKER_LOST_ERROR = "worker lost: the process running this attempt died"


class Outcome(StrEnum):
    SUCCESS = "SUCCESS"
    RETRY = "RETRY"
    FAILURE = "FAILURE"
    WORKER_LOST = "WORKER_LOST"


@dataclass(frozen=True, order=True)
class AttemptKey:
    retry: int
    delivery: int


@dataclass(frozen=True)
class NewRun:
    id: str
    job: str
    queue: str
    kwargs: dict[str, Any]
    args: list[Any] = field(default_factory=list)
    schedule: str | None = None
    scheduled_for: datetime | None = None
    origin: str | None = None  # RunOrigin; None: schedule when it has one, else manual

    @property
    def sent_by(self) -> str:
        return self.origin or ("schedule" if self.schedule else "manual")


@dataclass(frozen=True)
class AttemptStarted:
    run: NewRun
    key: AttemptKey
    worker: str | None
    at: datetime
    owner: str | None = None  # the process running it (jobs.worker.owners)


@dataclass(frozen=True)
class AttemptFinished:
    run: NewRun
    key: AttemptKey
    outcome: Outcome
    at: datetime
    worker: str | None = None
    error: str | None = None
    traceback: str | None = None
    retry_in: float | None = None
    result: Any = None
    dead_lettered: bool = False


def upsert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def run_values(run: NewRun, at: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "id": run.id,
        "job": run.job,
        "queue": run.queue,
        "args": run.args,
        "kwargs": run.kwargs,
        "attempts": 0,
        "enqueued_at": at,
        "dead_lettered": False,
        "schedule": run.schedule,
        "scheduled_for": run.scheduled_for,
        "origin": run.sent_by,
        **extra,
    }


def _newer_than(key: AttemptKey) -> Any:
    return or_(
        run_attempts.c.retry > key.retry,
        and_(run_attempts.c.retry == key.retry, run_attempts.c.delivery > key.delivery),
    )


def _older_than(key: AttemptKey) -> Any:
    return or_(
        run_attempts.c.retry.is_(None),
        run_attempts.c.retry < key.retry,
        and_(run_attempts.c.retry == key.retry, run_attempts.c.delivery < key.delivery),
    )


def _ensure_attempt(
    conn: Connection, run_id: str, key: AttemptKey, at: datetime, worker: Any, owner: Any = None
) -> Any:
    """The attempt row for ``key``, created with the next number if it is not there yet."""
    where = (
        run_attempts.c.run_id == run_id,
        run_attempts.c.retry == key.retry,
        run_attempts.c.delivery == key.delivery,
    )
    row = conn.execute(select(run_attempts).where(*where)).mappings().first()
    if row is not None:
        if owner is not None and row["owner"] != owner:
            conn.execute(update(run_attempts).where(*where).values(owner=owner))
        return row
    number = select(func.coalesce(func.max(run_attempts.c.number), 0) + 1).where(
        run_attempts.c.run_id == run_id
    )
    conn.execute(
        run_attempts.insert().values(
            run_id=run_id,
            number=number.scalar_subquery(),
            started_at=at,
            worker=worker,
            retry=key.retry,
            delivery=key.delivery,
            owner=owner,
        )
    )
    return conn.execute(select(run_attempts).where(*where)).mappings().one()


def _count_attempts(conn: Connection, run_id: str) -> None:
    count = select(func.count()).where(run_attempts.c.run_id == run_id).scalar_subquery()
    conn.execute(update(runs).where(runs.c.id == run_id).values(attempts=count))


def _has_newer(conn: Connection, run_id: str, key: AttemptKey) -> bool:
    newer = select(run_attempts.c.number).where(run_attempts.c.run_id == run_id, _newer_than(key))
    return conn.execute(newer.limit(1)).first() is not None


def _has_finished(conn: Connection, run_id: str, key: AttemptKey) -> bool:
    """This attempt already finished: its start is replayed after its own finish (the
    journals of two processes adopted in either order)."""
    finished = select(run_attempts.c.number).where(
        run_attempts.c.run_id == run_id,
        run_attempts.c.retry == key.retry,
        run_attempts.c.delivery == key.delivery,
        run_attempts.c.finished_at.isnot(None),
    )
    return conn.execute(finished.limit(1)).first() is not None


def record_start(conn: Connection, event: AttemptStarted, *, check: bool) -> bool:
    """Record an attempt's start; creates the run row if the task was sent by other means.

    With ``check``, records nothing and returns False when the run must not run: it was
    cancelled (its schedule changed after the fire was handed to the broker ahead of time),
    or it already succeeded or was skipped (a duplicate delivery of the same message). The
    check and the write are one statement, so a cancellation cannot slip between. Without
    ``check`` (an event replayed from an outbox: the attempt did run) it always records.
    """
    run, at = event.run, event.at
    stmt = upsert(conn)(runs).values(
        **run_values(run, at, state="STARTED", started_at=at, worker=event.worker)
    )
    newer = _has_newer(conn, run.id, event.key)
    guard = runs.c.state.notin_(NOT_RUNNABLE) if check else runs.c.state.isnot(None)
    if newer or _has_finished(conn, run.id, event.key):
        # Never: a newer attempt owns the run's state, or this attempt already finished.
        guard = runs.c.state.is_(None)
    result = conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[runs.c.id],
            set_={
                "state": "STARTED",
                "started_at": at,
                "finished_at": None,
                "next_retry_at": None,
                "worker": event.worker,
                "reason": None,
                # A re-driven run may start before the re-drive updates its row.
                "dead_lettered": False,
                "held": False,
                "resends": 0,  # a message arrived: the reaper's count starts again
            },
            where=guard,
        )
    )
    if check and not result.rowcount:
        return False
    # An older attempt still open was running in a worker that died (kill -9, OOM): this
    # delivery replaces it.
    conn.execute(
        update(run_attempts)
        .where(
            run_attempts.c.run_id == run.id,
            run_attempts.c.finished_at.is_(None),
            _older_than(event.key),
        )
        .values(finished_at=at, outcome=Outcome.WORKER_LOST.value, error=WORKER_LOST_ERROR)
    )
    _ensure_attempt(conn, run.id, event.key, at, event.worker, event.owner)
    if newer:
        _close_superseded(conn, run.id, event.key)
    _count_attempts(conn, run.id)
    return True


def _close_superseded(conn: Connection, run_id: str, key: AttemptKey) -> None:
    """A start replayed after a newer attempt of the run was recorded (the journal of a
    killed process adopted late): a later delivery replaced it, so it is not left open. It
    is closed ``WORKER_LOST`` when the first newer attempt started; a finish of its own,
    should one still come, overwrites that."""
    superseded_at = (
        select(func.min(run_attempts.c.started_at))
        .where(run_attempts.c.run_id == run_id, _newer_than(key))
        .scalar_subquery()
    )
    conn.execute(
        update(run_attempts)
        .where(
            run_attempts.c.run_id == run_id,
            run_attempts.c.retry == key.retry,
            run_attempts.c.delivery == key.delivery,
            run_attempts.c.finished_at.is_(None),
        )
        .values(
            finished_at=superseded_at,
            outcome=Outcome.WORKER_LOST.value,
            error=WORKER_LOST_ERROR,
        )
    )


def record_finish(conn: Connection, event: AttemptFinished) -> None:
    """Close the attempt ``event.key``; the run takes its state unless a newer attempt exists."""
    run, at = event.run, event.at
    conn.execute(
        upsert(conn)(runs)
        .values(**run_values(run, at, state="STARTED", worker=event.worker))
        .on_conflict_do_nothing(index_elements=[runs.c.id])
    )
    attempt = _ensure_attempt(conn, run.id, event.key, at, event.worker)
    conn.execute(
        update(run_attempts)
        .where(run_attempts.c.run_id == run.id, run_attempts.c.number == attempt["number"])
        .values(
            finished_at=at,
            outcome=event.outcome.value,
            error=event.error,
            retry_in=event.retry_in,
        )
    )
    _count_attempts(conn, run.id)
    if _has_newer(conn, run.id, event.key):
        return
    runtime_ms = (at - attempt["started_at"]).total_seconds() * 1000
    values: dict[str, Any] = {"runtime_ms": runtime_ms, "error": event.error}
    if event.outcome is Outcome.RETRY:
        retry_at = datetime.fromtimestamp(at.timestamp() + (event.retry_in or 0), at.tzinfo)
        values.update(state="RETRY", next_retry_at=retry_at)
    elif event.outcome is Outcome.SUCCESS:
        values.update(state="SUCCESS", result=event.result, traceback=None, finished_at=at)
    else:  # FAILURE, or WORKER_LOST when the worker dead-letters a message that kills workers
        values.update(
            state="FAILURE",
            traceback=event.traceback,
            dead_lettered=event.dead_lettered,
            finished_at=at,
        )
    conn.execute(update(runs).where(runs.c.id == run.id).values(**values))


@dataclass(frozen=True)
class RunExpired:
    run: NewRun
    at: datetime


EXPIRED_REASON = "expired before a worker took it"


def record_expired(conn: Connection, event: RunExpired) -> None:
    """A message that expired before its first attempt: recorded, never dropped silently
    (a row is created when the sender could not write one)."""
    run, at = event.run, event.at
    conn.execute(
        upsert(conn)(runs)
        .values(**run_values(run, at, state="EXPIRED", finished_at=at, reason=EXPIRED_REASON))
        .on_conflict_do_update(
            index_elements=[runs.c.id],
            set_={"state": "EXPIRED", "finished_at": at, "reason": EXPIRED_REASON, "held": False},
            where=runs.c.state.in_(("PENDING", "RETRY")),
        )
    )


WorkerEvent = AttemptStarted | AttemptFinished | RunExpired


def apply_event(conn: Connection, event: WorkerEvent) -> None:
    """Apply one event recorded late: a start replayed here did run, so it is not checked."""
    if isinstance(event, AttemptStarted):
        record_start(conn, event, check=False)
    elif isinstance(event, AttemptFinished):
        record_finish(conn, event)
    else:
        record_expired(conn, event)
