"""Worker events applied as a set: a few statements per batch, not several per event.

The outbox writer hands over whatever arrived while its previous commit ran. This module
reads the batch's existing attempts once, plays the events in order on that picture with
the rules of :mod:`jobs.store.attempts` (a replayed start is not checked; an older attempt
never overwrites a newer one's run state; an open older attempt is closed as
``WORKER_LOST`` by a newer start), then writes the result: one multi-row upsert of the runs
per set of changed columns, one insert of the new attempts, one update of the changed
ones. Expiry events keep their own statement, in order. Another writer adding an attempt
to the same run at the same moment makes the batch fail on its unique keys; the caller
then applies the batch event by event (``RunStore.apply``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, update

from jobs.store.attempts import (
    WORKER_LOST_ERROR,
    AttemptFinished,
    AttemptKey,
    AttemptStarted,
    Outcome,
    RunExpired,
    WorkerEvent,
    record_expired,
    run_values,
    upsert,
)
from jobs.store.tables import run_attempts, runs

CHUNK = 500
ATTEMPT_COLUMNS = (
    "started_at", "finished_at", "outcome", "error", "retry_in", "worker", "retry", "delivery",
    "owner",
)  # fmt: skip
# Rows written before attempts had keys sort before every keyed attempt.
UNKEYED = AttemptKey(-1, -1)


@dataclass
class _Attempt:
    number: int
    values: dict[str, Any]
    new: bool = False
    dirty: bool = False


@dataclass
class _Run:
    insert: dict[str, Any]
    attempts: dict[AttemptKey, _Attempt]
    updates: dict[str, Any] = field(default_factory=dict)

    def newer_than(self, key: AttemptKey) -> bool:
        return any(k > key for k in self.attempts)

    def ensure(self, key: AttemptKey, at: datetime, worker: Any, owner: Any) -> _Attempt:
        attempt = self.attempts.get(key)
        if attempt is None:
            number = max((a.number for a in self.attempts.values()), default=0) + 1
            values = dict.fromkeys(ATTEMPT_COLUMNS)
            values.update(started_at=at, worker=worker, retry=key.retry, delivery=key.delivery)
            values["owner"] = owner
            attempt = self.attempts[key] = _Attempt(number, values, new=True)
        elif owner is not None and attempt.values["owner"] != owner:
            attempt.values["owner"], attempt.dirty = owner, True
        return attempt


def apply_batch(conn: Connection, events: Sequence[WorkerEvent]) -> None:
    """Apply ``events`` in order, as sets; expiries in between keep their place."""
    segment: list[AttemptStarted | AttemptFinished] = []
    for event in events:
        if isinstance(event, RunExpired):
            _apply_set(conn, segment)
            segment = []
            record_expired(conn, event)
        else:
            segment.append(event)
    _apply_set(conn, segment)


def _load(conn: Connection, events: Sequence[AttemptStarted | AttemptFinished]) -> dict[str, _Run]:
    plans: dict[str, _Run] = {}
    for event in events:
        if event.run.id not in plans:
            insert = run_values(event.run, event.at, state="STARTED", started_at=None)
            insert["worker"] = event.worker
            if isinstance(event, AttemptStarted):
                insert["started_at"] = event.at
            plans[event.run.id] = _Run(insert, {})
    ids = list(plans)
    for start in range(0, len(ids), CHUNK):
        query = select(run_attempts).where(run_attempts.c.run_id.in_(ids[start : start + CHUNK]))
        for row in conn.execute(query).mappings():
            key = UNKEYED if row["retry"] is None else AttemptKey(row["retry"], row["delivery"])
            values = {c: row[c] for c in ATTEMPT_COLUMNS}
            plans[row["run_id"]].attempts[key] = _Attempt(row["number"], values)
    return plans


def _play_start(plan: _Run, event: AttemptStarted) -> None:
    at = event.at
    own = plan.attempts.get(event.key)
    replayed_after_finish = own is not None and own.values["finished_at"] is not None
    if not plan.newer_than(event.key) and not replayed_after_finish:
        plan.updates.update(
            state="STARTED", started_at=at, finished_at=None, next_retry_at=None,
            worker=event.worker, reason=None, dead_lettered=False, held=False, resends=0,
        )  # fmt: skip
    for key, attempt in plan.attempts.items():
        if key < event.key and attempt.values["finished_at"] is None:
            attempt.values.update(
                finished_at=at, outcome=Outcome.WORKER_LOST.value, error=WORKER_LOST_ERROR
            )
            attempt.dirty = True
    attempt = plan.ensure(event.key, at, event.worker, event.owner)
    newer = [a.values["started_at"] for k, a in plan.attempts.items() if k > event.key]
    if newer and attempt.values["finished_at"] is None:
        # Replayed after a newer delivery replaced it: closed, never left open.
        attempt.values.update(
            finished_at=min(newer), outcome=Outcome.WORKER_LOST.value, error=WORKER_LOST_ERROR
        )
        attempt.dirty = True


def _play_finish(plan: _Run, event: AttemptFinished) -> None:
    at = event.at
    attempt = plan.ensure(event.key, at, event.worker, None)
    attempt.values.update(
        finished_at=at, outcome=event.outcome.value, error=event.error, retry_in=event.retry_in
    )
    attempt.dirty = True
    if plan.newer_than(event.key):
        return
    runtime_ms = (at - attempt.values["started_at"]).total_seconds() * 1000
    values: dict[str, Any] = {"runtime_ms": runtime_ms, "error": event.error}
    if event.outcome is Outcome.RETRY:
        retry_at = datetime.fromtimestamp(at.timestamp() + (event.retry_in or 0), at.tzinfo)
        values.update(state="RETRY", next_retry_at=retry_at)
    elif event.outcome is Outcome.SUCCESS:
        values.update(state="SUCCESS", result=event.result, traceback=None, finished_at=at)
    else:
        values.update(
            state="FAILURE",
            traceback=event.traceback,
            dead_lettered=event.dead_lettered,
            finished_at=at,
        )
    plan.updates.update(values)


def _apply_set(conn: Connection, events: Sequence[AttemptStarted | AttemptFinished]) -> None:
    if not events:
        return
    plans = _load(conn, events)
    for event in events:
        plan = plans[event.run.id]
        if isinstance(event, AttemptStarted):
            _play_start(plan, event)
        else:
            _play_finish(plan, event)
        plan.updates["attempts"] = len(plan.attempts)
    _write_runs(conn, plans.values())
    _write_attempts(conn, plans)


_UPSERTS: dict[tuple[str, tuple[str, ...]], Any] = {}


def _upsert_runs(conn: Connection, columns: tuple[str, ...]) -> Any:
    """The runs upsert that sets ``columns`` from the new row, built once per shape."""
    key = (conn.dialect.name, columns)
    stmt = _UPSERTS.get(key)
    if stmt is None:
        insert = upsert(conn)(runs)
        stmt = _UPSERTS[key] = insert.on_conflict_do_update(
            index_elements=[runs.c.id], set_={c: insert.excluded[c] for c in columns}
        )
    return stmt


def _write_runs(conn: Connection, plans: Any) -> None:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for plan in plans:
        groups.setdefault(tuple(sorted(plan.updates)), []).append({**plan.insert, **plan.updates})
    for columns, rows in groups.items():
        conn.execute(_upsert_runs(conn, columns), rows)


def _write_attempts(conn: Connection, plans: dict[str, _Run]) -> None:
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for run_id, plan in plans.items():
        for attempt in plan.attempts.values():
            if attempt.new:
                new.append({"run_id": run_id, "number": attempt.number, **attempt.values})
            elif attempt.dirty:
                v = attempt.values
                changed.append(
                    {"b_run": run_id, "b_number": attempt.number, "b_finished": v["finished_at"],
                     "b_outcome": v["outcome"], "b_error": v["error"], "b_retry_in": v["retry_in"],
                     "b_owner": v["owner"]}
                )  # fmt: skip
    if new:
        conn.execute(run_attempts.insert(), new)
    if changed:
        stmt = (
            update(run_attempts)
            .where(
                and_(
                    run_attempts.c.run_id == bindparam("b_run"),
                    run_attempts.c.number == bindparam("b_number"),
                )
            )
            .values(
                finished_at=bindparam("b_finished"),
                outcome=bindparam("b_outcome"),
                error=bindparam("b_error"),
                retry_in=bindparam("b_retry_in"),
                owner=bindparam("b_owner"),
            )
        )
        conn.execute(stmt, changed)
