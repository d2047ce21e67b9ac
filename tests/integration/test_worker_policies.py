"""Retry, backoff and dead-lettering, proven with a real worker on the real RabbitMQ."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from jobs.celery_app import BeatkeeperCelery
from jobs.enqueue import Enqueuer
from jobs.store.runs import RunRecord
from tests.support import testjobs
from tests.support.queues import dead_letters
from tests.support.waiting import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def enqueuer(celery_session_app: BeatkeeperCelery, celery_session_worker: Any) -> Any:
    enq = Enqueuer(celery_session_app)
    yield enq
    enq.stop()


def finished(app: BeatkeeperCelery, run_id: str, timeout: float = 20.0) -> RunRecord:
    def done() -> RunRecord | None:
        record = app.store.get(run_id)
        return record if record is not None and record.done else None

    result: RunRecord = wait_for(done, timeout)
    return result


def test_an_enqueued_job_runs_on_a_real_worker_and_its_result_is_recorded(
    celery_session_app: BeatkeeperCelery, enqueuer: Enqueuer
) -> None:
    run = enqueuer.enqueue("add", {"x": 2, "y": 3})

    record = finished(celery_session_app, run.id)

    assert record.state == "SUCCESS"
    assert record.result == 5
    assert record.attempts == 1
    assert record.started_at is not None and record.started_at >= record.enqueued_at
    assert [a.outcome for a in record.history] == ["SUCCESS"]


def test_a_job_failing_twice_retries_exactly_twice_with_the_declared_delays(
    celery_session_app: BeatkeeperCelery, enqueuer: Enqueuer
) -> None:
    key = uuid.uuid4().hex
    run = enqueuer.enqueue("flaky", {"key": key, "fail_times": 2})

    # While the first retry waits, it waits in the broker (native delayed delivery),
    # not as an ETA message held by the worker.
    wait_for(lambda: (r := celery_session_app.store.get(run.id)) and r.state == "RETRY")
    scheduled = celery_session_app.control.inspect(timeout=1.0).scheduled() or {}
    assert all(not entries for entries in scheduled.values())

    record = finished(celery_session_app, run.id)
    assert record.state == "SUCCESS"
    assert record.result == {"attempts": 3}
    assert testjobs.calls(key) == 3
    assert [a.outcome for a in record.history] == ["RETRY", "RETRY", "SUCCESS"]
    declared = celery_session_app.tasks["flaky"].policy
    assert [a.retry_in for a in record.history[:2]] == [declared.delay(0), declared.delay(1)]
    assert [declared.delay(0), declared.delay(1)] == [1, 2]
    for before, after in zip(record.history, record.history[1:], strict=False):
        assert before.finished_at is not None and before.retry_in is not None
        waited = (after.started_at - before.finished_at).total_seconds()
        # The broker delays in whole seconds; allow for scheduling noise on a busy machine.
        assert before.retry_in - 0.2 <= waited <= before.retry_in + 1.5, (before, after)


def test_a_job_that_always_fails_is_dead_lettered_after_max_retries_with_its_exception(
    celery_session_app: BeatkeeperCelery, enqueuer: Enqueuer
) -> None:
    dead_letters(celery_session_app)  # start from an empty DLQ
    key = uuid.uuid4().hex
    run = enqueuer.enqueue("always_fails", {"key": key})

    record = finished(celery_session_app, run.id)

    assert record.state == "FAILURE"
    assert record.dead_lettered is True
    assert record.attempts == 3  # the first attempt and max_retries=2 retries
    assert record.error == f"Permanent: {key} always fails"
    assert record.traceback and "Permanent" in record.traceback
    messages = wait_for(lambda: dead_letters(celery_session_app), timeout=10)
    assert [m.headers["id"] for m in messages] == [run.id]
    death = messages[0].headers["x-death"][0]
    assert death["reason"] == "rejected"
    assert death["queue"] == celery_session_app.topology.work_queue("default").name


def test_an_exception_outside_the_policy_is_not_retried_and_is_dead_lettered(
    celery_session_app: BeatkeeperCelery, enqueuer: Enqueuer
) -> None:
    dead_letters(celery_session_app)
    run = enqueuer.enqueue("fails_without_retry", {"key": "k"})

    record = finished(celery_session_app, run.id)

    assert (record.state, record.attempts, record.dead_lettered) == ("FAILURE", 1, True)
    messages = wait_for(lambda: dead_letters(celery_session_app), timeout=10)
    assert [m.headers["id"] for m in messages] == [run.id]


def test_a_discard_policy_records_the_failure_without_dead_lettering(
    celery_session_app: BeatkeeperCelery, enqueuer: Enqueuer
) -> None:
    dead_letters(celery_session_app)
    run = enqueuer.enqueue("fails_and_is_discarded", {"key": "k"})

    record = finished(celery_session_app, run.id)

    assert (record.state, record.attempts, record.dead_lettered) == ("FAILURE", 2, False)
    assert dead_letters(celery_session_app) == []
