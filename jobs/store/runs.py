"""RunStore: every read and write of run history goes through here."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError

from jobs.store.attempt_batch import apply_batch
from jobs.store.attempts import (
    AttemptFinished,
    AttemptStarted,
    NewRun,
    RunExpired,
    WorkerEvent,
    apply_event,
    record_expired,
    record_finish,
    record_start,
)
from jobs.store.owners import StartView, beat, forget, read_start
from jobs.store.tables import DONE_STATES, run_attempts, runs

__all__ = ["HELD", "AttemptRecord", "NewRun", "RunExpired", "RunRecord", "RunStore", "utcnow"]

# Why a fire the beat handed to the broker ahead of its time is still PENDING, for people;
# the ``held`` column is the flag the code reads.
HELD = "sent ahead; held by the broker until due"


def utcnow() -> datetime:
    return datetime.now(UTC)


def dead_letter_values(error: str, at: datetime) -> dict[str, Any]:
    """The columns of a run that ends dead-lettered: FAILURE at ``at``, flagged, with
    ``error``, no retry due and no longer held. One set, whoever dead-letters it."""
    return {
        "state": "FAILURE",
        "dead_lettered": True,
        "finished_at": at,
        "next_retry_at": None,
        "held": False,
        "error": error,
    }


@dataclass(frozen=True)
class AttemptRecord:
    number: int
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    error: str | None
    retry_in: float | None
    worker: str | None

    @property
    def runtime_ms(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds() * 1000


@dataclass(frozen=True)
class RunRecord:
    id: str
    job: str
    queue: str
    args: list[Any]
    kwargs: dict[str, Any]
    state: str
    attempts: int
    enqueued_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    next_retry_at: datetime | None = None
    runtime_ms: float | None = None
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    dead_lettered: bool = False
    worker: str | None = None
    schedule: str | None = None
    scheduled_for: datetime | None = None
    published_at: datetime | None = None
    reason: str | None = None
    held: bool = False
    origin: str = "manual"
    resends: int = 0  # overdue re-sends by the reaper since the run last started
    history: tuple[AttemptRecord, ...] = field(default=())

    @property
    def done(self) -> bool:
        return self.state in DONE_STATES

    @property
    def lateness_ms(self) -> float | None:
        """How long after its scheduled time a scheduled run started."""
        if self.scheduled_for is None or self.started_at is None:
            return None
        return (self.started_at - self.scheduled_for).total_seconds() * 1000

    @property
    def queue_wait_ms(self) -> float | None:
        """From the message's publication (or the enqueue) to its first attempt's start."""
        if not self.history:
            return None
        sent = self.published_at or self.enqueued_at
        return (self.history[0].started_at - sent).total_seconds() * 1000


def _insert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


class RunStore:
    """Writes are short transactions; the enqueue path batches its inserts."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._readers = threading.local()

    def _reader(self) -> Connection:
        """This thread's held autocommit connection for the read before every attempt: no
        pool checkout, ping, BEGIN or ROLLBACK around it (four round trips on PostgreSQL)."""
        held = getattr(self._readers, "held", None)
        if held is None or held[0] != os.getpid():  # a forked child opens its own
            opened = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._readers.held = held = (os.getpid(), opened)
        conn: Connection = held[1]
        return conn

    # -- writes from the enqueue path -------------------------------------------
    def insert_pending(
        self,
        conn: Connection,
        new: Sequence[NewRun],
        at: datetime,
        state: str = "PENDING",
        reason: str | None = None,
        skip_existing: bool = False,
        held: bool = False,
    ) -> None:
        """Insert rows inside the caller's transaction (one statement per batch).

        ``skip_existing``: a row that already exists (a worker got there first) keeps its
        state and gains the schedule fields.
        """
        if new:
            stmt: Any = runs.insert()
            if skip_existing:
                stmt = _insert(conn)(runs)
                # The worker may have created the row first (it starts the job as soon as
                # the broker has it): keep its state, add what only the sender knows.
                stmt = stmt.on_conflict_do_update(
                    index_elements=[runs.c.id],
                    set_={
                        "enqueued_at": stmt.excluded.enqueued_at,
                        "schedule": stmt.excluded.schedule,
                        "origin": stmt.excluded.origin,
                        "scheduled_for": stmt.excluded.scheduled_for,
                        "published_at": stmt.excluded.published_at,
                    },
                )
            conn.execute(
                stmt,
                [
                    {
                        "id": n.id,
                        "job": n.job,
                        "queue": n.queue,
                        "args": n.args,
                        "kwargs": n.kwargs,
                        "state": state,
                        "attempts": 0,
                        "enqueued_at": at,
                        "dead_lettered": False,
                        "schedule": n.schedule,
                        "scheduled_for": n.scheduled_for,
                        "published_at": at if state == "PENDING" else None,
                        "reason": reason,
                        "held": held,
                        "origin": n.sent_by,
                        "finished_at": None if state == "PENDING" else at,
                    }
                    for n in new
                ],
            )

    def existing_ids(self, conn: Connection, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = list(ids[start : start + 500])
            found.update(conn.execute(select(runs.c.id).where(runs.c.id.in_(chunk))).scalars())
        return found

    def delete_ids(self, conn: Connection, ids: Iterable[str]) -> None:
        conn.execute(delete(runs).where(runs.c.id.in_(list(ids))))

    # -- writes from the worker (see jobs.store.attempts) ----------------------------
    def start_attempt(self, event: AttemptStarted, *, check: bool = True) -> bool:
        """Record an attempt's start; False (nothing recorded) when the run must not run."""
        with self.engine.begin() as conn:
            return record_start(conn, event, check=check)

    def finish_attempt(self, event: AttemptFinished) -> None:
        with self.engine.begin() as conn:
            record_finish(conn, event)

    def apply(self, events: Sequence[WorkerEvent]) -> None:
        """Apply a worker's events in one transaction, in order: as a set (a few statements
        per batch); event by event when another writer raced it on the same run."""
        try:
            with self.engine.begin() as conn:
                apply_batch(conn, events)
            return
        except IntegrityError:
            pass
        with self.engine.begin() as conn:
            for event in events:
                apply_event(conn, event)

    def start_view(self, run_id: str) -> StartView:
        """What a delivery of ``run_id`` must know before it runs (``jobs.worker.owners``)."""
        conn = self._reader()
        try:
            return read_start(conn, run_id)
        except DBAPIError:
            self._readers.held = None
            with contextlib.suppress(DBAPIError):
                conn.invalidate()
            raise

    def beat(self, owner: str, at: datetime, forget_before: datetime | None = None) -> None:
        """``owner`` is alive at ``at``; rows of processes silent since ``forget_before`` go."""
        with self.engine.begin() as conn:
            beat(conn, owner, at)
            if forget_before is not None:
                forget(conn, before=forget_before)

    def forget_owner(self, owner: str) -> None:
        with self.engine.begin() as conn:
            forget(conn, owner)

    def mark_expired(self, event: RunExpired) -> None:
        with self.engine.begin() as conn:
            record_expired(conn, event)

    def cancel_pending_fires(
        self, conn: Connection, schedule: str, reason: str, at: datetime, offset: float = 0.0
    ) -> int:
        """Cancel fires of ``schedule`` handed to the broker ahead of their time.

        ``offset`` is the schedule's jitter offset: a fire is sent at scheduled_for + offset.
        """
        not_yet_sent = at - timedelta(seconds=offset)
        result = conn.execute(
            update(runs)
            .where(
                runs.c.schedule == schedule,
                runs.c.state == "PENDING",
                runs.c.held.is_(True),
                runs.c.scheduled_for > not_yet_sent,
            )
            .values(state="CANCELLED", finished_at=at, reason=reason, held=False)
        )
        return int(result.rowcount or 0)

    def mark_dead_lettered(self, run_id: str, error: str, at: datetime) -> bool:
        """A run whose message the broker dead-lettered before a worker finished it (x-death
        ``expired``, ``delivery_limit``, ...): FAILURE, flagged, with ``error``.

        Only from PENDING or RETRY: what a worker recorded (started, finished) stands.
        Returns whether it changed.
        """
        with self.engine.begin() as conn:
            result = conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.state.in_(("PENDING", "RETRY")))
                .values(**dead_letter_values(error, at))
            )
            return bool(result.rowcount)

    def mark_redriven(self, run_id: str, state: str, attempts: int, at: datetime) -> bool:
        """A dead-lettered run was published to its work queue again: PENDING once more."""
        return self.mark_resent(
            run_id, state, attempts, at, "redrive", "re-driven from the dead-letter queue"
        )

    def mark_resent(
        self, run_id: str, state: str, attempts: int, at: datetime, origin: str, reason: str
    ) -> bool:
        """A finished run was published again under its id: PENDING once more, with what
        sent it (``origin``) and why.

        Only if the row is still as it was read (``state``, ``attempts``): a worker that
        already started the new message has the newer word. Returns whether it changed.
        """
        with self.engine.begin() as conn:
            # What sent the current message holds even when a worker got there first.
            conn.execute(update(runs).where(runs.c.id == run_id).values(origin=origin))
            result = conn.execute(
                update(runs)
                .where(runs.c.id == run_id, runs.c.state == state, runs.c.attempts == attempts)
                .values(
                    state="PENDING",
                    dead_lettered=False,
                    finished_at=None,
                    next_retry_at=None,
                    published_at=at,
                    reason=reason,
                )
            )
            return bool(result.rowcount)

    def cancel(
        self, run_ids: Sequence[str], states: Sequence[str], reason: str, at: datetime
    ) -> list[str]:
        """Mark the runs among ``run_ids`` still in one of ``states`` CANCELLED (a worker that
        receives their message acknowledges it without running it); returns those changed."""
        changed = []
        with self.engine.begin() as conn:
            for run_id in run_ids:
                result = conn.execute(
                    update(runs)
                    .where(runs.c.id == run_id, runs.c.state.in_(states))
                    .values(state="CANCELLED", finished_at=at, reason=reason, held=False)
                )
                if result.rowcount:
                    changed.append(run_id)
        return changed

    def delete_finished_before(self, cutoff: datetime) -> int:
        """Delete finished runs enqueued before ``cutoff``; returns how many."""
        with self.engine.begin() as conn:
            ids = select(runs.c.id).where(
                runs.c.enqueued_at < cutoff, runs.c.state.in_(DONE_STATES)
            )
            conn.execute(delete(run_attempts).where(run_attempts.c.run_id.in_(ids)))
            result = conn.execute(
                delete(runs).where(runs.c.enqueued_at < cutoff, runs.c.state.in_(DONE_STATES))
            )
            return int(result.rowcount or 0)

    # -- reads --------------------------------------------------------------------
    def get(self, run_id: str, with_history: bool = True) -> RunRecord | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().first()
            if row is None:
                return None
            history: tuple[AttemptRecord, ...] = ()
            if with_history:
                rows = conn.execute(
                    select(run_attempts)
                    .where(run_attempts.c.run_id == run_id)
                    .order_by(run_attempts.c.number)
                ).mappings()
                history = tuple(
                    AttemptRecord(
                        r["number"],
                        r["started_at"],
                        r["finished_at"],
                        r["outcome"],
                        r["error"],
                        r["retry_in"],
                        r["worker"],
                    )
                    for r in rows
                )
            return RunRecord(**dict(row), history=history)

    def list(
        self,
        job: str | None = None,
        state: str | None = None,
        limit: int = 50,
        schedule: str | None = None,
    ) -> list[RunRecord]:
        query = select(runs).order_by(runs.c.enqueued_at.desc()).limit(limit)
        if job:
            query = query.where(runs.c.job == job)
        if schedule:
            query = query.where(runs.c.schedule == schedule)
        if state:
            query = query.where(runs.c.state == state)
        with self.engine.connect() as conn:
            return [RunRecord(**dict(r)) for r in conn.execute(query).mappings()]

    def stats(self, since: datetime) -> dict[str, dict[str, Any]]:
        """Per job: runs by state and mean/max runtime since ``since``."""
        query = (
            select(
                runs.c.job,
                runs.c.state,
                func.count(),
                func.avg(runs.c.runtime_ms),
                func.max(runs.c.runtime_ms),
            )
            .where(runs.c.enqueued_at >= since)
            .group_by(runs.c.job, runs.c.state)
        )
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            for job, state, count, avg_ms, max_ms in conn.execute(query):
                entry = out.setdefault(job, {"states": {}, "avg_ms": None, "max_ms": None})
                entry["states"][state] = count
                if state == "SUCCESS":
                    entry["avg_ms"], entry["max_ms"] = avg_ms, max_ms
        return out

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(select(1))
