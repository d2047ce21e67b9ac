"""Attempt rows: one per execution, idempotent and order-tolerant (real SQLite store)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs.store import RunStore, make_engine
from jobs.store.attempts import AttemptFinished, AttemptKey, AttemptStarted, Outcome, RunExpired
from jobs.store.runs import NewRun

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
RUN = NewRun("run-1", "add", "bk.default", {"x": 1})


@pytest.fixture
def store(free_sqlite_url: str) -> RunStore:
    return RunStore(make_engine(free_sqlite_url))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_redelivery_after_a_worker_died_is_a_new_attempt_and_closes_the_lost_one(
    store: RunStore,
) -> None:
    store.start_attempt(AttemptStarted(RUN, AttemptKey(0, 0), "w1", at(0)))
    # w1 was killed mid-run; RabbitMQ redelivers the same message (x-delivery-count 1).
    store.start_attempt(AttemptStarted(RUN, AttemptKey(0, 1), "w2", at(5)))
    store.finish_attempt(AttemptFinished(RUN, AttemptKey(0, 1), Outcome.SUCCESS, at(6), result=2))

    record = store.get(RUN.id)
    assert record is not None
    assert (record.state, record.attempts, record.result) == ("SUCCESS", 2, 2)
    assert [(a.number, a.worker, a.outcome) for a in record.history] == [
        (1, "w1", "WORKER_LOST"),
        (2, "w2", "SUCCESS"),
    ]
    assert record.history[0].finished_at == at(5)
    assert record.history[0].error is not None and "worker lost" in record.history[0].error


def test_events_replayed_twice_change_nothing(store: RunStore) -> None:
    events: list[AttemptStarted | AttemptFinished | RunExpired] = [
        AttemptStarted(RUN, AttemptKey(0, 0), "w1", at(0)),
        AttemptFinished(RUN, AttemptKey(0, 0), Outcome.RETRY, at(1), error="E: x", retry_in=2.0),
        AttemptStarted(RUN, AttemptKey(1, 0), "w1", at(3)),
        AttemptFinished(RUN, AttemptKey(1, 0), Outcome.SUCCESS, at(4), result="ok"),
    ]
    store.apply(events)
    store.apply(events)

    record = store.get(RUN.id)
    assert record is not None
    assert (record.state, record.attempts, record.result) == ("SUCCESS", 2, "ok")
    assert [a.outcome for a in record.history] == ["RETRY", "SUCCESS"]
    assert record.runtime_ms == pytest.approx(1000.0)


def test_a_late_event_of_an_older_attempt_does_not_overwrite_the_newer_state(
    store: RunStore,
) -> None:
    # Another worker process ran the retry while this one's events waited in its outbox.
    store.start_attempt(AttemptStarted(RUN, AttemptKey(1, 0), "w2", at(3)))
    store.finish_attempt(AttemptFinished(RUN, AttemptKey(1, 0), Outcome.SUCCESS, at(4)))
    store.apply(
        [
            AttemptStarted(RUN, AttemptKey(0, 0), "w1", at(0)),
            AttemptFinished(RUN, AttemptKey(0, 0), Outcome.RETRY, at(1), error="E", retry_in=2),
        ]
    )

    record = store.get(RUN.id)
    assert record is not None
    assert (record.state, record.attempts) == ("SUCCESS", 2)
    assert sorted(a.outcome or "" for a in record.history) == ["RETRY", "SUCCESS"]


def test_a_duplicate_delivery_of_a_succeeded_run_is_refused_but_a_replayed_start_is_kept(
    store: RunStore,
) -> None:
    store.start_attempt(AttemptStarted(RUN, AttemptKey(0, 0), "w1", at(0)))
    store.finish_attempt(AttemptFinished(RUN, AttemptKey(0, 0), Outcome.SUCCESS, at(1)))

    assert store.start_attempt(AttemptStarted(RUN, AttemptKey(0, 1), "w2", at(2))) is False
    record = store.get(RUN.id)
    assert record is not None and (record.state, record.attempts) == ("SUCCESS", 1)


def test_starts_replayed_after_the_dead_letter_finish_leave_no_attempt_open(
    store: RunStore,
) -> None:
    # A job kills its worker on each delivery; the consumer dead-letters the third one and
    # records the second attempt lost before the killed processes' journals are adopted.
    store.apply(
        [
            AttemptFinished(
                RUN,
                AttemptKey(0, 1),
                Outcome.WORKER_LOST,
                at(9),
                error="worker lost 2 times",
                dead_lettered=True,
            ),
            AttemptStarted(RUN, AttemptKey(0, 0), "w1", at(0)),
            AttemptStarted(RUN, AttemptKey(0, 1), "w2", at(5)),
        ]
    )

    record = store.get(RUN.id)
    assert record is not None
    assert (record.state, record.dead_lettered, record.attempts) == ("FAILURE", True, 2)
    assert [a.outcome for a in record.history] == ["WORKER_LOST", "WORKER_LOST"]
    assert all(a.finished_at is not None for a in record.history)
