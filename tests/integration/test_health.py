"""/api/health checks what the product needs for real: a confirmed publish, a store write
(under a held SQLite write lock a SELECT 1 still passes), and who leads the beat."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jobs.factory import create_celery_app, load_registry
from jobs.settings import JobsSettings
from jobs.store.lease import LeaseStore
from tests.conftest import settings_env
from webapp.asgi import create_app
from webapp.settings import WebSettings

pytestmark = [pytest.mark.integration]


def client_for(rabbitmq_url: str, database_url: str, **extra: str) -> Any:
    env = {**settings_env("bk-health", database_url, rabbitmq_url), **extra}
    settings = WebSettings(jobs=JobsSettings.from_env(env))
    celery_app = create_celery_app(settings.jobs, load_registry("jobs.examples"))
    return TestClient(create_app(settings, celery_app)), celery_app


@pytest.fixture
def api(rabbitmq_url: str, free_sqlite_url: str) -> Iterator[tuple[TestClient, Any]]:
    client, celery_app = client_for(rabbitmq_url, free_sqlite_url)
    with client:
        yield client, celery_app


def test_health_is_ok_when_the_broker_takes_a_publish_and_the_store_a_write(
    api: tuple[TestClient, Any],
) -> None:
    client, _ = api
    response = client.get("/api/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["broker"]["ok"] is True and body["database"]["ok"] is True
    assert body["beat"]["ok"] is False and body["beat"]["leader"] is None


def test_health_is_503_while_another_process_holds_the_sqlite_write_lock(
    api: tuple[TestClient, Any], free_sqlite_url: str
) -> None:
    client, _ = api
    holder = sqlite3.connect(free_sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        response = client.get("/api/health")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert response.status_code == 503
    body = response.json()
    assert body["database"]["ok"] is False and "locked" in body["database"]["error"]
    assert body["broker"]["ok"] is True
    assert client.get("/api/health").status_code == 200


def test_health_shows_who_leads_the_beat_and_the_beat_endpoint_is_503_without_one(
    api: tuple[TestClient, Any],
) -> None:
    client, celery_app = api
    assert client.get("/api/health/beat").status_code == 503
    lease = LeaseStore(celery_app.store.engine)
    fence = lease.try_acquire("host:42:abc", datetime.now(UTC), 30.0)
    assert fence is not None
    lease.renew(fence, datetime.now(UTC), 30.0, evaluated=True)
    beat = client.get("/api/health").json()["beat"]
    assert beat["ok"] is True and beat["leader"] == "host:42:abc" and beat["epoch"] == 1
    assert beat["since"] is not None and beat["last_evaluated"] is not None
    assert client.get("/api/health/beat").status_code == 200
    lease.release(fence, datetime.now(UTC))
    assert client.get("/api/health").json()["beat"]["ok"] is False


def test_health_is_503_without_a_beat_when_the_beat_is_required(
    rabbitmq_url: str, free_sqlite_url: str
) -> None:
    client, _ = client_for(rabbitmq_url, free_sqlite_url, BEATKEEPER_HEALTH_REQUIRE_BEAT="true")
    with client:
        response = client.get("/api/health")
    assert response.status_code == 503 and response.json()["beat"]["ok"] is False
