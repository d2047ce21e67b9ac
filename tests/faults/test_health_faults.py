"""/api/health against a private RabbitMQ node under a memory alarm: the node still accepts
connections, but blocks publishers, so a connection check would say "ok"; the health check
publishes for real and answers 503."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pytest_celery import RabbitMQContainer

from broker.health import check, check_publish
from jobs.factory import create_celery_app, load_registry
from jobs.settings import JobsSettings
from jobs.store.migrate import upgrade
from tests.conftest import settings_env
from tests.support.waiting import wait_for
from webapp.asgi import create_app
from webapp.settings import WebSettings

pytestmark = [pytest.mark.faults, pytest.mark.integration]


def test_health_is_503_while_the_broker_blocks_publishers_under_a_memory_alarm(
    private_rabbitmq_broker: RabbitMQContainer, tmp_path: Path
) -> None:
    broker = private_rabbitmq_broker
    database_url = f"sqlite:///{tmp_path / 'health.db'}"
    upgrade(database_url)
    env = settings_env("bk-health-fault", database_url, broker.url)
    settings = WebSettings(jobs=JobsSettings.from_env(env))
    app = create_celery_app(settings.jobs, load_registry("jobs.examples"))
    node = broker.node
    with TestClient(create_app(settings, app)) as client:
        assert client.get("/api/health").status_code == 200
        node.ctl("set_vm_memory_high_watermark", "0.0000001")  # every publisher is blocked
        try:
            wait_for(lambda: not check_publish(broker.url, timeout=1.0).ok, 30, interval=0.5)
            assert check(broker.url).ok  # connecting still works: not enough for health
            response = client.get("/api/health")
            assert response.status_code == 503
            body = response.json()
            assert body["broker"]["ok"] is False and body["database"]["ok"] is True
        finally:
            node.ctl("set_vm_memory_high_watermark", "0.4")
        wait_for(lambda: check_publish(broker.url, timeout=1.0).ok, 30, interval=0.5)
        assert client.get("/api/health").status_code == 200
