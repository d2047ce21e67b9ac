"""Beatkeeper's own worker and app under pytest-celery.

The worker "container" runs ``celery -A jobs worker``: the installed project, configured by
its ``BEATKEEPER_*`` variables, exactly as ``make up`` and the Dockerfile run it; with Docker,
the same ``command()`` and ``initial_env()`` describe a container of the project's image.
The test's app (``celery_setup.app``) comes from ``jobs.factory.create_celery_app``, so it
has the recorded task class, the quorum-queue topology and the run store.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import celery
import pytest
from celery import Celery
from kombu import Connection
from pytest_celery import CeleryWorkerContainer

from broker import declare, names
from jobs.factory import create_celery_app, load_registry
from jobs.settings import JobsSettings
from jobs.store.migrate import upgrade
from tests.support.celery_local.fixtures import close_app

# Every test has a vhost of its own, so the default prefix cannot meet another test's queues.
PREFIX = "beatkeeper"
JOB_MODULES = "jobs.examples,tests.support.faultjobs"


def beatkeeper_env(broker_url: str, database_url: str) -> dict[str, str]:
    """The settings a worker and the test's app share."""
    return {
        "BEATKEEPER_ENV": "test",
        "BEATKEEPER_BROKER_URL": broker_url,
        "BEATKEEPER_QUEUE_PREFIX": PREFIX,
        "BEATKEEPER_JOB_MODULES": JOB_MODULES,
        "DATABASE_URL": database_url,
        # The enqueue path answers quickly while the broker is down (fault tests wait for it).
        "BEATKEEPER_PUBLISH_MAX_RETRIES": "1",
        "BEATKEEPER_PUBLISH_INTERVAL_START": "0.1",
        "BEATKEEPER_PUBLISH_INTERVAL_STEP": "0.1",
    }


class BeatkeeperWorkerContainer(CeleryWorkerContainer):
    """``celery -A jobs worker`` consuming every Beatkeeper work queue."""

    @classmethod
    def command(cls, *args: str, debugpy: bool = False, **kwargs: Any) -> list[str]:
        return [
            "celery",
            "-A",
            "jobs",
            "worker",
            f"--loglevel={cls.log_level()}",
            "-n",
            f"{cls.worker_name()}@%h",
            *args,
        ]

    @classmethod
    def version(cls) -> str:
        return str(celery.__version__)

    @classmethod
    def worker_name(cls) -> str:
        return "beatkeeper"

    @classmethod
    def worker_queue(cls) -> str:
        return names.queue_name(PREFIX, "default")

    @classmethod
    def initial_env(
        cls, celery_worker_cluster_config: dict[str, Any], initial: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        broker = celery_worker_cluster_config.get("celery_broker_cluster_config") or {}
        urls = broker.get("urls") or [""]
        extra = dict(initial or {})
        env = beatkeeper_env(urls[0], extra.pop("DATABASE_URL", ""))
        return {"PYTHONUNBUFFERED": "1", "PYTHONPATH": "/app", **env, **extra}

    @classmethod
    def initial_content(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Nothing to copy in: the worker runs the installed project."""
        return {}


@pytest.fixture
def default_worker_container_cls() -> type[CeleryWorkerContainer]:
    return BeatkeeperWorkerContainer


@pytest.fixture(scope="session")
def default_worker_container_session_cls() -> type[CeleryWorkerContainer]:
    return BeatkeeperWorkerContainer


@pytest.fixture
def runs_database_url(tmp_path: Path) -> str:
    """A run store of this test's own (SQLite, shared by the test and its worker processes)."""
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    upgrade(url)
    return url


@pytest.fixture
def marks(tmp_path: Path) -> str:
    """Where ``tests.support.faultjobs`` leave their marks."""
    folder = tmp_path / "marks"
    folder.mkdir()
    return str(folder)


@pytest.fixture
def default_worker_env(
    default_worker_container_cls: type[CeleryWorkerContainer],
    celery_worker_cluster_config: dict[str, Any],
    runs_database_url: str,
) -> dict[str, Any]:
    return default_worker_container_cls.initial_env(
        celery_worker_cluster_config, {"DATABASE_URL": runs_database_url}
    )


@pytest.fixture
def celery_setup_app(
    celery_setup_config: dict[str, Any], runs_database_url: str
) -> Iterator[Celery]:
    """Beatkeeper's app on this test's broker, with the whole topology (DLQs too) declared."""
    env = beatkeeper_env(celery_setup_config["broker_url"], runs_database_url)
    app = create_celery_app(
        JobsSettings.from_env(env), load_registry(JOB_MODULES), main="beatkeeper-faults"
    )
    with Connection(app.conf.broker_url) as conn:
        declare.declare(conn, app.topology)
    yield app
    close_app(app)
    app.store.engine.dispose()
