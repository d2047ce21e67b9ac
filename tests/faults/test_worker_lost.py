"""Worker deaths: each execution is an attempt, and a job that kills its worker ends in the DLQ
with its reason and a run that says so (real worker processes killed with SIGKILL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from kombu import Connection
from pytest_celery import (
    CeleryTestSetup,
    CeleryWorkerContainer,
)

from broker import declare
from broker.names import REASON_HEADER
from jobs.factory import create_celery_app, load_registry
from jobs.settings import JobsSettings
from tests.faults.test_worker_processes import finished
from tests.support.celery_local.beatkeeper import JOB_MODULES, beatkeeper_env
from tests.support.celery_local.fixtures import close_app

# Imported fixtures: pytest finds them in this module's namespace.
from tests.support.celery_local.two_workers import (  # noqa: F401 - fixtures used by name
    celery_worker_cluster,
    second_worker,
    second_worker_container,
)
from tests.support.faultjobs import count
from tests.support.queues import dead_letters
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.faults, pytest.mark.integration]

DELIVERY_LIMIT = "2"


@pytest.fixture
def default_worker_env(
    default_worker_container_cls: type[CeleryWorkerContainer],
    celery_worker_cluster_config: dict[str, Any],
    runs_database_url: str,
) -> dict[str, Any]:
    return default_worker_container_cls.initial_env(
        celery_worker_cluster_config,
        {"DATABASE_URL": runs_database_url, "BEATKEEPER_DELIVERY_LIMIT": DELIVERY_LIMIT},
    )


@pytest.fixture
def celery_setup_app(
    celery_setup_config: dict[str, Any], runs_database_url: str
) -> Iterator[Celery]:
    env = beatkeeper_env(celery_setup_config["broker_url"], runs_database_url)
    env["BEATKEEPER_DELIVERY_LIMIT"] = DELIVERY_LIMIT
    app = create_celery_app(
        JobsSettings.from_env(env), load_registry(JOB_MODULES), main="beatkeeper-faults"
    )
    with Connection(app.conf.broker_url) as conn:
        declare.declare(conn, app.topology)
    yield app
    close_app(app)


def test_a_redelivery_after_a_worker_kill_is_a_new_attempt_and_the_killed_one_is_worker_lost(
    celery_setup: CeleryTestSetup, marks: str
) -> None:
    sent = celery_setup.app.tasks["marked_sleep"].s(marks=marks, key="k", seconds=3).apply_async()
    wait_for(lambda: count(marks, "k.start") == 1, 30)
    started = wait_for(lambda: celery_setup.app.store.get(sent.id), 10)
    (victim,) = [w for w in celery_setup.worker_cluster if w.hostname() == started.worker]
    (survivor,) = [w for w in celery_setup.worker_cluster if w is not victim]

    victim.kill()

    record = finished(celery_setup, sent.id)
    assert (record.state, record.attempts) == ("SUCCESS", 2)
    assert [(a.number, a.worker, a.outcome) for a in record.history] == [
        (1, victim.hostname(), "WORKER_LOST"),
        (2, survivor.hostname(), "SUCCESS"),
    ]
    lost = record.history[0]
    assert lost.finished_at is not None and lost.finished_at <= record.history[1].started_at
    assert lost.error is not None and "worker lost" in lost.error


def test_a_job_that_kills_its_worker_is_dead_lettered_with_its_reason_and_its_run_says_so(
    celery_setup: CeleryTestSetup, marks: str
) -> None:
    app = celery_setup.app
    sent = app.tasks["kills_its_worker"].s(marks=marks, key="x").apply_async()

    record = finished(celery_setup, sent.id)

    assert (record.state, record.dead_lettered) == ("FAILURE", True)
    assert record.error == f"worker lost {DELIVERY_LIMIT} times"
    assert [a.outcome for a in record.history] == ["WORKER_LOST"] * int(DELIVERY_LIMIT)
    assert count(marks, "x.start") == int(DELIVERY_LIMIT)
    (letter,) = wait_for(lambda: dead_letters(app), 20)
    assert letter.headers["id"] == sent.id
    assert letter.headers[REASON_HEADER] == f"worker lost {DELIVERY_LIMIT} times"
    # Both workers are still serving.
    again = app.tasks["marked_sleep"].s(marks=marks, key="after").apply_async()
    assert finished(celery_setup, again.id).state == "SUCCESS"
