"""The outbox writer's set-based batch writes exactly what the events applied one by one
write: same runs, same attempts (real SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from jobs.store.attempt_batch import apply_batch
from jobs.store.attempts import (
    AttemptFinished,
    AttemptKey,
    AttemptStarted,
    Outcome,
    RunExpired,
    WorkerEvent,
    apply_event,
)
from jobs.store.runs import NewRun, RunStore
from jobs.store.tables import run_attempts, runs

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def run(name: str) -> NewRun:
    return NewRun(name, "add", "bk.default", {"x": 1})


def story(prefix: str) -> list[WorkerEvent]:
    """Starts, finishes, retries, a redelivery over a killed attempt, late and repeated
    events, an expiry, and a run the enqueue path already wrote (``pre``)."""
    a, b, c, d, e, f = (run(f"{prefix}-{n}") for n in "abcdef")
    pre = run(f"{prefix}-pre")
    k00, k01, k10 = AttemptKey(0, 0), AttemptKey(0, 1), AttemptKey(1, 0)
    return [
        AttemptStarted(a, k00, "w1", at(0), owner="h/1/1"),
        AttemptFinished(a, k00, Outcome.SUCCESS, at(1), worker="w1", result=[1, 2]),
        AttemptStarted(b, k00, "w1", at(0)),
        AttemptFinished(b, k00, Outcome.RETRY, at(1), error="E: no", retry_in=2.0),
        AttemptStarted(b, k10, "w2", at(3), owner="h/2/2"),
        AttemptFinished(b, k10, Outcome.FAILURE, at(4), error="E: no", dead_lettered=True),
        AttemptStarted(c, k00, "w1", at(0)),
        AttemptStarted(c, k01, "w2", at(5)),  # w1 died: its attempt is closed WORKER_LOST
        AttemptFinished(c, k01, Outcome.SUCCESS, at(6), result=None),
        AttemptFinished(c, k00, Outcome.SUCCESS, at(7), result="late"),  # older: no state
        AttemptStarted(a, k00, "w1", at(0), owner="h/1/1"),  # replayed twice
        AttemptFinished(a, k00, Outcome.SUCCESS, at(1), worker="w1", result=[1, 2]),
        RunExpired(d, at(2)),
        AttemptStarted(e, k00, "w1", at(8)),
        AttemptStarted(pre, k00, "w3", at(9), owner="h/3/3"),
        AttemptFinished(pre, k00, Outcome.SUCCESS, at(10), result={"ok": True}),
        # The consumer dead-letters f before the killed processes' journals are adopted.
        AttemptFinished(
            f, k01, Outcome.WORKER_LOST, at(12), error="lost twice", dead_lettered=True
        ),
        AttemptStarted(f, k00, "w1", at(10)),
        AttemptStarted(f, k01, "w2", at(11)),
    ]


def snapshot(engine: Engine, prefix: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with engine.connect() as conn:
        rows = conn.execute(select(runs).where(runs.c.id.like(f"{prefix}-%")).order_by(runs.c.id))
        attempts = conn.execute(
            select(run_attempts)
            .where(run_attempts.c.run_id.like(f"{prefix}-%"))
            .order_by(run_attempts.c.run_id, run_attempts.c.number)
        )
        strip = ("id", "run_id")
        return (
            [{k: v for k, v in r.items() if k not in strip} for r in rows.mappings()],
            [{k: v for k, v in r.items() if k not in strip} for r in attempts.mappings()],
        )


def test_a_batch_writes_what_the_same_events_applied_one_by_one_write(store_engine: Engine) -> None:
    store = RunStore(store_engine)
    with store_engine.begin() as conn:
        store.insert_pending(conn, [run("one-pre"), run("set-pre")], at(-1))
    with store_engine.begin() as conn:
        for event in story("one"):
            apply_event(conn, event)

    with store_engine.begin() as conn:
        apply_batch(conn, story("set"))

    assert snapshot(store_engine, "set") == snapshot(store_engine, "one")
    record = store.get("set-c")
    assert record is not None  # the late finish of the older attempt did not set the state
    assert (record.state, record.result, record.attempts) == ("SUCCESS", None, 2)
    lost = store.get("set-f")
    assert lost is not None  # starts replayed after the dead-letter finish reopen nothing
    assert (lost.state, lost.dead_lettered) == ("FAILURE", True)
    assert [a.outcome for a in lost.history] == ["WORKER_LOST", "WORKER_LOST"]


def test_a_batch_split_anywhere_writes_the_same(store_engine: Engine) -> None:
    events = story("one")
    with store_engine.begin() as conn:
        apply_batch(conn, events)
    for cut in (3, 8, 13):
        prefix = f"cut{cut}"
        split = story(prefix)
        with store_engine.begin() as conn:
            apply_batch(conn, split[:cut])
        with store_engine.begin() as conn:
            apply_batch(conn, split[cut:])
        with store_engine.begin() as conn:
            apply_batch(conn, split)  # and the whole journal replayed once more

        assert snapshot(store_engine, prefix)[1] == snapshot(store_engine, "one")[1]
