"""The broker restarted and killed under a running worker: a private RabbitMQ node, never the
shared one, driven through pytest-celery's ``RabbitMQTestBroker.restart()`` and ``kill()``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pytest_celery import CeleryTestSetup, RabbitMQContainer

from tests.faults.test_worker_processes import finished
from tests.support.faultjobs import count
from tests.support.waiting import wait_for
from webapp.asgi import create_app
from webapp.settings import WebSettings

pytestmark = [pytest.mark.faults, pytest.mark.integration]


@pytest.fixture
def default_rabbitmq_broker(private_rabbitmq_broker: RabbitMQContainer) -> RabbitMQContainer:
    return private_rabbitmq_broker


@pytest.fixture
def api(celery_setup: CeleryTestSetup) -> Iterator[TestClient]:
    """Beatkeeper's web API on the setup's app (its enqueue path, its run store)."""
    settings = WebSettings(jobs=celery_setup.app.settings)
    with TestClient(create_app(settings, celery_setup.app)) as client:
        yield client


def test_a_broker_restart_mid_stream_loses_no_job_and_runs_none_twice(
    celery_setup: CeleryTestSetup, marks: str
) -> None:
    task = celery_setup.app.tasks["marked_sleep"]
    sent = [task.s(marks=marks, key=f"j{i}", seconds=0.1).apply_async() for i in range(30)]
    wait_for(lambda: sum(count(marks, f"j{i}.done") for i in range(30)) >= 3, 30)

    celery_setup.broker.restart()

    records = [finished(celery_setup, s.id, timeout=90) for s in sent]
    assert {r.state for r in records} == {"SUCCESS"}
    assert [count(marks, f"j{i}.done") for i in range(30)] == [1] * 30


def test_a_killed_broker_gets_503s_with_nothing_stored_and_every_accepted_job_runs_once(
    celery_setup: CeleryTestSetup, api: TestClient, marks: str
) -> None:
    def enqueue(key: str) -> int:
        body = {"kwargs": {"marks": marks, "key": key, "seconds": 0.1}}
        response = api.post("/api/jobs/marked_sleep/runs", json=body)
        if response.status_code == 202:
            accepted.append(key)
        return response.status_code

    accepted: list[str] = []
    assert [enqueue(f"before{i}") for i in range(10)] == [202] * 10

    celery_setup.broker.kill()

    assert [enqueue(f"down{i}") for i in range(3)] == [503] * 3
    assert len(celery_setup.app.store.list(limit=100)) == 10  # nothing stored half-way

    celery_setup.broker.restart()

    # The enqueue path reconnects by itself: the first request after the restart may still
    # meet the dead connection and answer 503 (storing nothing); then requests are accepted.
    wait_for(lambda: enqueue("after") == 202, 30, interval=0.5)
    assert [enqueue(f"after{i}") for i in range(5)] == [202] * 5

    runs = celery_setup.app.store.list(limit=100)
    assert len(runs) == len(accepted) == 16
    records = [finished(celery_setup, r.id, timeout=90) for r in runs]
    assert {r.state for r in records} == {"SUCCESS"}
    assert [count(marks, f"{key}.done") for key in accepted] == [1] * len(accepted)
    assert not any(count(marks, f"down{i}.start") for i in range(3))


def test_a_job_running_through_a_broker_restart_is_not_run_again_by_its_redelivery(
    celery_setup: CeleryTestSetup, marks: str
) -> None:
    # The ack of a job still running when the broker goes away is lost with its channel, and
    # RabbitMQ redelivers the message while the first execution carries on (Celery keeps it).
    task = celery_setup.app.tasks["marked_until_released"]
    sent = task.s(marks=marks, key="long").apply_async()
    wait_for(lambda: count(marks, "long.start") == 1, 30)

    celery_setup.broker.restart()
    # The worker reconnects and receives the redelivery (its free pool process could run it).
    received = f"Task marked_until_released[{sent.id}] received"
    wait_for(lambda: celery_setup.worker.logs().count(received) == 2, 60, interval=0.2)
    time.sleep(1)
    (Path(marks) / "long.release").touch()

    record = finished(celery_setup, sent.id, timeout=60)
    assert record.state == "SUCCESS"
    time.sleep(2)  # a redelivery let through after the finish would have marked by now
    assert (count(marks, "long.start"), count(marks, "long.done")) == (1, 1)
    assert [a.outcome for a in record.history] == ["SUCCESS"]
