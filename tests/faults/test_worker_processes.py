"""Beatkeeper's worker as a real process, driven through pytest-celery's own API."""

from __future__ import annotations

import pytest
from pytest_celery import CeleryTestSetup, CeleryTestWorker

from jobs.store.runs import RunRecord
from tests.support.faultjobs import count
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def finished(setup: CeleryTestSetup, run_id: str, timeout: float = 60) -> RunRecord:
    def done() -> RunRecord | None:
        record = setup.app.store.get(run_id)
        return record if record is not None and record.done else None

    record: RunRecord = wait_for(done, timeout, interval=0.2)
    return record


def test_a_job_sent_through_the_setup_app_runs_in_a_worker_process_and_is_recorded(
    celery_setup: CeleryTestSetup, marks: str
) -> None:
    assert isinstance(celery_setup.worker, CeleryTestWorker)

    sent = celery_setup.app.tasks["marked_sleep"].s(marks=marks, key="one").apply_async()

    record = finished(celery_setup, sent.id)
    assert record.state == "SUCCESS"
    assert record.result == "one"
    assert record.worker == celery_setup.worker.hostname()
    assert count(marks, "one.done") == 1


def test_a_failing_job_is_retried_with_backoff_and_its_attempts_are_recorded(
    celery_setup: CeleryTestSetup, marks: str
) -> None:
    sent = celery_setup.app.tasks["marked_flaky"].s(marks=marks, key="f", fail_times=2)
    run_id = sent.apply_async().id

    record = finished(celery_setup, run_id)

    assert record.state == "SUCCESS"
    assert record.result == 3
    assert [a.outcome for a in record.history] == ["RETRY", "RETRY", "SUCCESS"]
    # Backoff 1 s then 2 s (base 1, cap 2, no jitter), waited in the broker.
    assert [a.retry_in for a in record.history[:2]] == [1.0, 2.0]
    assert count(marks, "f.attempt") == 3


def test_jobs_sent_while_the_worker_is_down_run_once_it_is_back(
    celery_setup: CeleryTestSetup, marks: str
) -> None:
    celery_setup.worker.kill()
    sent = [
        celery_setup.app.tasks["marked_sleep"].s(marks=marks, key=f"k{i}").apply_async()
        for i in range(5)
    ]

    celery_setup.worker.restart()

    assert all(finished(celery_setup, s.id).state == "SUCCESS" for s in sent)
    assert [count(marks, f"k{i}.done") for i in range(5)] == [1] * 5
