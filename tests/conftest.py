"""One fixture per resource: settings, RabbitMQ, the database, the Celery app, a worker."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection
from sqlalchemy import Engine

from broker import declare, health
from broker.topology import Topology, describe
from jobs.celery_app import BeatkeeperCelery
from jobs.factory import create_celery_app, load_registry
from jobs.registry import JobRegistry
from jobs.settings import JobsSettings
from jobs.store import make_engine
from jobs.store.migrate import upgrade
from tests.support import testjobs
from tests.support.databases import sqlite_database, usable_postgres_database

IN_CI = os.environ.get("CI", "").lower() == "true"
RABBITMQ_URL = os.environ.get("BEATKEEPER_TEST_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
POSTGRES_URL = os.environ.get(
    "BEATKEEPER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def unavailable(reason: str) -> None:
    """Skip on a laptop without the service; in CI a missing service is a failure."""
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: integration services must be available)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def session_id() -> str:
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def rabbitmq_url() -> str:
    result = health.check(RABBITMQ_URL)
    if not result.ok:
        unavailable(f"RabbitMQ not reachable at {RABBITMQ_URL}: {result.error}")
    return RABBITMQ_URL


def settings_env(prefix: str, database_url: str, broker_url: str = RABBITMQ_URL) -> dict[str, str]:
    return {
        "BEATKEEPER_ENV": "test",
        "BEATKEEPER_BROKER_URL": broker_url,
        "BEATKEEPER_QUEUE_PREFIX": prefix,
        "DATABASE_URL": database_url,
        # Heartbeats make an embedded worker's shutdown wait and error (field notes).
        "BEATKEEPER_BROKER_HEARTBEAT": "0",
        "BEATKEEPER_PUBLISH_MAX_RETRIES": "1",
        "BEATKEEPER_PUBLISH_INTERVAL_START": "0.05",
        "BEATKEEPER_PUBLISH_INTERVAL_STEP": "0.05",
    }


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'beatkeeper.db'}"
    upgrade(url)
    return url


@pytest.fixture(scope="session")
def jobs_settings(session_id: str, database_url: str) -> JobsSettings:
    return JobsSettings.from_env(settings_env(f"bk-test-{session_id}", database_url))


@pytest.fixture(scope="session")
def test_registry() -> JobRegistry:
    return load_registry("jobs.examples").merge(testjobs.registry)


@pytest.fixture(scope="session")
def topology(jobs_settings: JobsSettings, rabbitmq_url: str) -> Iterator[Topology]:
    """This session's exchanges and queues, declared on the real broker, deleted after."""
    topo = describe(jobs_settings.broker)
    with Connection(rabbitmq_url) as conn:
        declare.declare(conn, topo)
    yield topo
    with Connection(rabbitmq_url) as conn:
        declare.delete(conn, topo)


@pytest.fixture(scope="session")
def celery_session_app(
    jobs_settings: JobsSettings, test_registry: JobRegistry, topology: Topology
) -> BeatkeeperCelery:
    """Overrides celery.contrib.pytest's app with Beatkeeper's own factory."""

    return create_celery_app(jobs_settings, test_registry, main="beatkeeper-tests")


@pytest.fixture(scope="session")
def celery_worker_pool() -> str:
    return "solo"


@pytest.fixture(scope="session")
def celery_worker_parameters() -> dict[str, Any]:
    # start_worker already waits for the consumer to be ready; its ping check would need a
    # result backend, whose reply queues outlive the session on the broker.
    return {"shutdown_timeout": 10.0, "perform_ping_check": False}


@pytest.fixture
def free_sqlite_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'unit.db'}"
    upgrade(url)
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a migrated store of this test's own: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        engine = make_engine(sqlite_database(tmp_path))
        yield engine
        engine.dispose()
        return
    with usable_postgres_database() as url:
        engine = make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()
