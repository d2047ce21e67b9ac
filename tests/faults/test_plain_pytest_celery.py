"""pytest-celery's own built-in worker (its ``app.py`` template and ``tasks`` module) on the
local stand-in: the stand-in is not specific to Beatkeeper."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from pytest_celery import CeleryTestSetup, CeleryWorkerContainer
from pytest_celery.vendors.worker.tasks import add

from tests.support.celery_local.fixtures import close_app

pytestmark = [pytest.mark.faults, pytest.mark.integration]


# Undo this folder's Beatkeeper overrides: pytest-celery's defaults, unchanged.
@pytest.fixture
def default_worker_container_cls() -> type[CeleryWorkerContainer]:
    return CeleryWorkerContainer


@pytest.fixture
def default_worker_env(
    default_worker_container_cls: type[CeleryWorkerContainer],
    celery_worker_cluster_config: dict[str, Any],
) -> dict[str, Any]:
    return default_worker_container_cls.initial_env(celery_worker_cluster_config)


@pytest.fixture
def celery_setup_app(
    celery_setup_cls: type[CeleryTestSetup], celery_setup_config: dict[str, Any]
) -> Iterator[Celery]:
    app = celery_setup_cls.create_setup_app(celery_setup_config, celery_setup_cls.name())
    yield app
    close_app(app)


def test_the_built_in_worker_runs_a_task_from_its_generated_app_module(
    celery_setup: CeleryTestSetup,
) -> None:
    # Through the setup's app: the content generator's clone of it became current_app.
    task = celery_setup.app.tasks[add.name]
    sent = task.s(2, 3).apply_async(queue=celery_setup.worker.worker_queue)

    celery_setup.worker.assert_log_exists(f"Task {add.name}[{sent.id}] succeeded")
    processes = celery_setup.worker.get_running_processes_info(["pid", "name"])
    assert processes and all(p["pid"] > 0 for p in processes)
