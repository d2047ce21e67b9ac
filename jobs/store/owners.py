"""Who runs an attempt, and what a delivery finds before it starts.

Every worker process beats a row in ``worker_heartbeats`` every few seconds (from its
outbox writer) and stamps its attempts with its owner name. A delivery reads the run
(:func:`read_start`) and, when the run is not simply waiting, its attempts with their
owners' last beats: ``jobs.worker.owners`` decides from that whether to run, skip, or wait
for a live owner to finish.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, delete, select

from jobs.store.attempts import AttemptKey, upsert
from jobs.store.tables import run_attempts, runs, worker_heartbeats


@dataclass(frozen=True)
class SeenAttempt:
    key: AttemptKey
    finished: bool
    outcome: str | None
    owner: str | None
    beat_at: datetime | None  # the owner's last heartbeat, None when it has no row


@dataclass(frozen=True)
class StartView:
    """What a delivery sees: the run's state (None: no row yet) and its attempts."""

    state: str | None
    attempts: tuple[SeenAttempt, ...] = ()


# Built once: the read runs before every attempt, so its statement is not rebuilt each time.
_STATE = select(runs.c.state).where(runs.c.id == bindparam("run_id"))
# The state is read again with the attempts, in one statement, so both come from one
# snapshot: a finish committed between two reads showed a STARTED run whose attempts had
# all ended, and the delivery ran the job a second time.
_ATTEMPTS = (
    select(
        runs.c.state,
        run_attempts.c.number,
        run_attempts.c.retry,
        run_attempts.c.delivery,
        run_attempts.c.finished_at,
        run_attempts.c.outcome,
        run_attempts.c.owner,
        worker_heartbeats.c.beat_at,
    )
    .select_from(
        runs.outerjoin(run_attempts, run_attempts.c.run_id == runs.c.id).outerjoin(
            worker_heartbeats, worker_heartbeats.c.owner == run_attempts.c.owner
        )
    )
    .where(runs.c.id == bindparam("run_id"))
)


def read_start(conn: Connection, run_id: str) -> StartView:
    """One primary-key read for a waiting run (the common case); otherwise the state again
    with the attempts, in one statement (one snapshot)."""
    state = conn.execute(_STATE, {"run_id": run_id}).scalar()
    if state is None or state == "PENDING":
        return StartView(state)
    rows = conn.execute(_ATTEMPTS, {"run_id": run_id}).all()
    if not rows:
        return StartView(None)  # deleted between the two reads
    seen = tuple(
        SeenAttempt(
            AttemptKey(row.retry or 0, row.delivery or 0),
            row.finished_at is not None,
            row.outcome,
            row.owner,
            row.beat_at,
        )
        for row in rows
        if row.number is not None  # the outer join's row of a run with no attempts
    )
    return StartView(rows[0].state, seen)


def beat(conn: Connection, owner: str, at: datetime) -> None:
    stmt = upsert(conn)(worker_heartbeats).values(owner=owner, beat_at=at)
    conn.execute(stmt.on_conflict_do_update(index_elements=["owner"], set_={"beat_at": at}))


def forget(conn: Connection, owner: str | None = None, before: datetime | None = None) -> None:
    """Drop ``owner``'s row (a clean stop), or every row not beaten since ``before``."""
    if owner is not None:
        conn.execute(delete(worker_heartbeats).where(worker_heartbeats.c.owner == owner))
    if before is not None:
        conn.execute(delete(worker_heartbeats).where(worker_heartbeats.c.beat_at < before))
