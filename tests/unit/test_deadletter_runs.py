"""A run whose message the broker dead-lettered is marked so, unless a worker had its word."""

from __future__ import annotations

from jobs.store import make_engine
from jobs.store.attempts import AttemptKey, AttemptStarted, NewRun
from jobs.store.runs import RunStore, utcnow


def store_with(url: str, *runs: NewRun) -> RunStore:
    store = RunStore(make_engine(url))
    with store.engine.begin() as conn:
        store.insert_pending(conn, list(runs), utcnow())
    return store


def test_a_pending_run_becomes_a_dead_lettered_failure_with_the_reason(
    free_sqlite_url: str,
) -> None:
    run = NewRun(id="r1", job="add", queue="q", kwargs={})
    store = store_with(free_sqlite_url, run)

    assert store.mark_dead_lettered("r1", "dead-lettered by the broker: expired in q", utcnow())

    record = store.get("r1")
    assert record is not None
    assert (record.state, record.dead_lettered) == ("FAILURE", True)
    assert record.error == "dead-lettered by the broker: expired in q"
    assert record.finished_at is not None
    store.engine.dispose()


def test_a_started_run_is_left_to_its_worker(free_sqlite_url: str) -> None:
    run = NewRun(id="r2", job="add", queue="q", kwargs={})
    store = store_with(free_sqlite_url, run)
    store.apply([AttemptStarted(run, AttemptKey(retry=0, delivery=0), "w@host", utcnow())])

    assert not store.mark_dead_lettered("r2", "dead-lettered by the broker: expired", utcnow())

    record = store.get("r2")
    assert record is not None and (record.state, record.dead_lettered) == ("STARTED", False)
    store.engine.dispose()
