"""The API while its PostgreSQL store is unreachable (a real server behind a proxy the test
cuts): /api/health says what is down with a 503, and no route answers 500."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from jobs.factory import create_celery_app, load_registry
from jobs.settings import JobsSettings
from jobs.store.metric_totals import label_key
from jobs.store.tables import metric_totals
from tests.conftest import settings_env
from tests.support.databases import usable_postgres_database
from tests.support.proxy import CuttableProxy
from webapp.asgi import create_app
from webapp.auth.accounts import Accounts
from webapp.auth.permissions import Scope
from webapp.settings import WebSettings

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@dataclass
class Stack:
    store: CuttableProxy
    client: TestClient  # a read token when auth is on
    celery_app: Any


def stack(rabbitmq_url: str, auth: bool) -> Iterator[Stack]:
    with ExitStack() as cleanup:
        url = cleanup.enter_context(usable_postgres_database())
        proxy = CuttableProxy("127.0.0.1", make_url(url).port or 5432)
        cleanup.callback(proxy.close)
        through = make_url(url).set(port=proxy.port).render_as_string(hide_password=False)
        env = settings_env("bk-store-down", through, rabbitmq_url)
        web = WebSettings(jobs=JobsSettings.from_env(env), auth=auth)
        celery_app = create_celery_app(web.jobs, load_registry("jobs.examples"))
        cleanup.callback(celery_app.store.engine.dispose)
        headers = {}
        if auth:
            token = Accounts(celery_app.store.engine).create_token("r", [Scope.READ], "test")
            headers = {"Authorization": f"Bearer {token.secret}"}
        with TestClient(create_app(web, celery_app), headers=headers) as client:
            yield Stack(proxy, client, celery_app)


@pytest.fixture
def open_stack(rabbitmq_url: str) -> Iterator[Stack]:
    yield from stack(rabbitmq_url, auth=False)


@pytest.fixture
def guarded_stack(rabbitmq_url: str) -> Iterator[Stack]:
    yield from stack(rabbitmq_url, auth=True)


def test_health_is_503_naming_the_store_when_postgresql_is_unreachable(
    open_stack: Stack,
) -> None:
    assert open_stack.client.get("/api/health").status_code == 200
    open_stack.store.cut()
    response = open_stack.client.get("/api/health")
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["database"]["ok"] is False and "OperationalError" in body["database"]["error"]
    assert body["broker"]["ok"] is True
    assert body["beat"]["error"] is not None, "the beat's lease could not be read either"


def test_with_auth_on_an_unreachable_store_is_a_503_for_health_and_every_read_not_a_500(
    guarded_stack: Stack,
) -> None:
    assert guarded_stack.client.get("/api/health").status_code == 200
    guarded_stack.store.cut()
    for path in ("/api/health", "/api/schedules", "/api/runs", "/api/webhook-deliveries"):
        response = guarded_stack.client.get(path)
        assert response.status_code == 503, (path, response.text)
        assert "run store is unavailable" in response.json()["detail"], path
        assert str(guarded_stack.store.port) not in response.text, "no address leaks"


def test_without_auth_a_read_of_an_unreachable_store_is_a_503(open_stack: Stack) -> None:
    open_stack.store.cut()
    response = open_stack.client.get("/api/schedules")
    assert response.status_code == 503, response.text
    assert response.json()["detail"].startswith("the run store is unavailable")


@pytest.mark.parametrize("path", ["/", "/runs", "/schedules", "/dashboard"])
def test_a_page_of_an_unreachable_store_is_a_503_page_of_the_site_not_a_500(
    open_stack: Stack, path: str
) -> None:
    open_stack.store.cut()
    response = open_stack.client.get(path)
    assert response.status_code == 503, response.text
    assert "run store is unavailable" in response.text
    assert str(open_stack.store.port) not in response.text, "no address leaks"
    assert "<nav" in response.text, "a page of the site: its menu, so the operator can go on"
    assert response.headers["Retry-After"] == "5"


def test_a_scrape_while_the_store_is_unreachable_says_so_and_keeps_the_counters(
    open_stack: Stack,
) -> None:
    labels = {"hostname": "generic", "name": "add", "queue_name": "q"}
    with open_stack.celery_app.store.engine.begin() as conn:  # as the counting process does
        conn.execute(
            insert(metric_totals).values(
                metric="celery_task_sent_total", labels=label_key(labels), value=3
            )
        )
    sent = 'celery_task_sent_total{hostname="generic",name="add",queue_name="q"} 3.0'
    before = open_stack.client.get("/metrics")
    assert "beatkeeper_store_up 1.0" in before.text and sent in before.text
    open_stack.store.cut()
    during = open_stack.client.get("/metrics")
    assert during.status_code == 200, "a scrape shows what it can"
    assert "beatkeeper_store_up 0.0" in during.text
    assert sent in during.text, "the last good totals: a counter never vanishes or goes back"
