"""Two worker processes in one pytest-celery cluster; one is killed with SIGKILL mid-job."""

from __future__ import annotations

import pytest
from pytest_celery import CeleryTestSetup

from tests.faults.test_worker_processes import finished

# Imported fixtures: pytest finds them in this module's namespace.
from tests.support.celery_local.two_workers import (  # noqa: F401 - fixtures used by name
    celery_worker_cluster,
    second_worker,
    second_worker_container,
)
from tests.support.faultjobs import count
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def test_two_workers_share_a_stream_of_jobs_and_run_each_once(
    celery_setup: CeleryTestSetup, marks: str
) -> None:
    task = celery_setup.app.tasks["marked_sleep"]
    sent = [task.s(marks=marks, key=f"j{i}", seconds=0.3).apply_async() for i in range(16)]

    records = [finished(celery_setup, s.id) for s in sent]

    assert {r.state for r in records} == {"SUCCESS"}
    assert [count(marks, f"j{i}.done") for i in range(16)] == [1] * 16
    assert {r.worker for r in records} == {w.hostname() for w in celery_setup.worker_cluster}


def test_a_job_whose_worker_is_killed_mid_run_is_completed_once_by_the_other_worker(
    celery_setup: CeleryTestSetup, marks: str
) -> None:
    sent = celery_setup.app.tasks["marked_sleep"].s(marks=marks, key="k", seconds=3).apply_async()
    wait_for(lambda: count(marks, "k.start") == 1, 30)
    started = wait_for(lambda: celery_setup.app.store.get(sent.id), 10)
    (victim,) = [w for w in celery_setup.worker_cluster if w.hostname() == started.worker]
    (survivor,) = [w for w in celery_setup.worker_cluster if w is not victim]

    victim.kill()

    record = finished(celery_setup, sent.id)
    assert record.state == "SUCCESS"
    assert record.worker == survivor.hostname()
    assert count(marks, "k.start") == 2  # the killed execution and the redelivered one
    assert count(marks, "k.done") == 1
