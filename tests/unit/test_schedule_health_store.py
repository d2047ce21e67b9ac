"""Schedule status from a real run store (SQLite): the SQL summary, health and counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from jobs.monitoring.schedules import statuses
from jobs.schedules.definition import ScheduleDefinition
from jobs.schedules.health import HealthState, RunFact, summarize
from jobs.schedules.kinds import TriggerKind
from jobs.store import make_engine
from jobs.store.attempts import AttemptFinished, AttemptKey, AttemptStarted, Outcome
from jobs.store.monitoring import run_summaries
from jobs.store.runs import NewRun, RunStore
from jobs.store.schedules import ScheduleStore
from jobs.store.tables import schedules as schedules_table

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def fire(store: RunStore, run_id: str, minute: float, state: str = "PENDING") -> NewRun:
    new = NewRun(run_id, "add", "q", {}, schedule="s", scheduled_for=at(minute))
    with store.engine.begin() as conn:
        store.insert_pending(conn, [new], at(minute), state=state)
    return new


def run(store: RunStore, new: NewRun, minute: float, outcome: Outcome, **extra: Any) -> None:
    key = AttemptKey(0, 1)
    store.start_attempt(AttemptStarted(new, key, "w1", at(minute)))
    store.finish_attempt(AttemptFinished(new, key, outcome, at(minute + 0.1), "w1", **extra))


def test_the_sql_summary_agrees_with_the_pure_one(free_sqlite_url: str) -> None:
    store = RunStore(make_engine(free_sqlite_url))
    run(store, fire(store, "a", 1), 1, Outcome.SUCCESS, result=3)
    run(
        store, fire(store, "b", 2), 2, Outcome.FAILURE, error="ValueError: boom", dead_lettered=True
    )
    fire(store, "c", 3, state="SKIPPED")
    fire(store, "d", 4)  # sent, not started
    fire(store, "e", 6)  # held ahead of its time
    now = at(5)
    facts = [
        RunFact(r.state, r.scheduled_for, r.finished_at, r.dead_lettered, r.error)
        for r in store.list(schedule="s")
    ]
    assert run_summaries(store.engine, ["s", "other"], now) == {
        "s": summarize(facts, now),
        "other": summarize([], now),
    }
    summary = run_summaries(store.engine, ["s"], now)["s"]
    assert (summary.last_outcome, summary.last_error) == ("FAILURE", "ValueError: boom")
    assert (summary.held_ahead, summary.next_held_for) == (1, at(6))
    assert summary.held_ahead == 1 and summary.last_fire_at == at(4)


def test_a_schedule_whose_runs_fail_shows_failing_then_down(free_sqlite_url: str) -> None:
    engine = make_engine(free_sqlite_url)
    schedules, runs = ScheduleStore(engine), RunStore(engine)
    definition = ScheduleDefinition("s", "add", TriggerKind.INTERVAL, interval_seconds=60)
    schedules.create(definition, next_fire_at=at(1), now=T0, by="test")
    for minute, run_id in ((1, "a"), (2, "b")):
        run(runs, fire(runs, run_id, minute), minute, Outcome.FAILURE, error="boom")
    store_now = schedules.get("s")
    failing = statuses(engine, [store_now], at(2.2))["s"].health
    assert failing.state is HealthState.FAILING
    down = statuses(engine, [store_now], at(4))["s"].health
    assert down.state is HealthState.DOWN


def test_fired_counts_only_fires_that_are_due_and_not_cancelled(free_sqlite_url: str) -> None:
    engine = make_engine(free_sqlite_url)
    schedules, runs = ScheduleStore(engine), RunStore(engine)
    definition = ScheduleDefinition("s", "add", TriggerKind.INTERVAL, interval_seconds=60)
    schedules.create(definition, next_fire_at=at(1), now=T0, by="test")
    fire(runs, "a", 1)
    with engine.begin() as conn:  # the beat hands the next fire to the broker ahead of time
        held = NewRun("b", "add", "q", {}, schedule="s", scheduled_for=at(2))
        runs.insert_pending(conn, [held], at(1.5), held=True)
        conn.execute(
            update(schedules_table)
            .where(schedules_table.c.name == "s")
            .values(fired_count=2, last_fire_at=at(2), last_run_id="b")
        )
    before = statuses(engine, [schedules.get("s")], at(1.5))["s"]
    assert (before.fired, before.last_fire_at) == (1, at(1))
    schedules.set_enabled("s", False, next_fire_at=None, now=at(1.5), by="test", reason="x")
    after = schedules.get("s")
    assert after.fired_count == 1
    assert statuses(engine, [after], at(1.6))["s"].health.state is HealthState.PAUSED


def test_a_cancelled_held_fire_never_shows_as_the_last_fire_once_its_time_passed(
    free_sqlite_url: str,
) -> None:
    engine = make_engine(free_sqlite_url)
    schedules, runs = ScheduleStore(engine), RunStore(engine)
    definition = ScheduleDefinition("s", "add", TriggerKind.INTERVAL, interval_seconds=60)
    schedules.create(definition, next_fire_at=at(1), now=T0, by="test")
    with engine.begin() as conn:  # the first fire is handed to the broker ahead of time
        held = NewRun("a", "add", "q", {}, schedule="s", scheduled_for=at(1))
        runs.insert_pending(conn, [held], at(0.9), held=True)
        conn.execute(
            update(schedules_table)
            .where(schedules_table.c.name == "s")
            .values(fired_count=1, last_fire_at=at(1), last_run_id="a")
        )
    schedules.set_enabled("s", False, next_fire_at=None, now=at(0.95), by="test", reason="x")
    status = statuses(engine, [schedules.get("s")], at(5))["s"]
    assert (status.fired, status.last_fire_at) == (0, None)
    fire(runs, "b", 6)
    schedules.set_enabled("s", True, next_fire_at=at(7), now=at(6.5), by="test", reason="x")
    with engine.begin() as conn:
        later = NewRun("c", "add", "q", {}, schedule="s", scheduled_for=at(7))
        runs.insert_pending(conn, [later], at(6.9), held=True)
    schedules.set_enabled("s", False, next_fire_at=None, now=at(6.95), by="test", reason="x")
    assert schedules.get("s").last_fire_at == at(6), "back to the newest fire that stands"
