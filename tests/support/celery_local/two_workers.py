"""A two-worker cluster for fault tests: import these three fixtures into a test module and
``celery_setup`` runs two real worker processes there (pytest-celery's own cluster)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from celery import Celery
from pytest_celery import CeleryTestWorker, CeleryWorkerCluster

from tests.support.celery_local.fixtures import local_worker_container

second_worker_container = local_worker_container()


@pytest.fixture
def second_worker(
    second_worker_container: CeleryTestWorker, default_worker_app: Celery
) -> Iterator[CeleryTestWorker]:
    worker = CeleryTestWorker(second_worker_container, app=default_worker_app)
    yield worker
    worker.teardown()


@pytest.fixture
def celery_worker_cluster(
    celery_worker: CeleryTestWorker, second_worker: CeleryTestWorker
) -> Iterator[CeleryWorkerCluster]:
    cluster = CeleryWorkerCluster(celery_worker, second_worker)
    yield cluster
    cluster.teardown()
