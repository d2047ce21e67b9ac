"""The API's validation and error shapes; nothing here reaches the broker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jobs.factory import create_celery_app, load_registry
from jobs.settings import JobsSettings
from tests.conftest import settings_env
from webapp.asgi import create_app
from webapp.settings import WebSettings


@pytest.fixture
def app_and_store(free_sqlite_url: str) -> Iterator[tuple[TestClient, Any]]:
    # A broker that cannot answer: any publish would fail loudly, so a 4xx proves
    # validation stopped the request before anything was sent.
    env = settings_env("bk-unit", free_sqlite_url, "amqp://guest:guest@127.0.0.1:1//")
    settings = WebSettings(jobs=JobsSettings.from_env(env))
    celery_app = create_celery_app(settings.jobs, load_registry("jobs.examples"))
    with TestClient(create_app(settings, celery_app)) as client:
        yield client, celery_app.store


def test_jobs_are_listed_with_their_effective_policies_and_parameters(app_and_store: Any) -> None:
    client, _ = app_and_store
    jobs = {j["name"]: j for j in client.get("/api/jobs").json()}
    assert set(jobs) == {"check_url", "runs_report", "cleanup_runs"}
    check = jobs["check_url"]
    assert check["policy"]["max_retries"] == 4
    assert check["policy"]["on_exhausted"] == "discard"
    assert check["policy"]["retry_on"] == ["TransportError", "UnexpectedStatus"]
    assert jobs["cleanup_runs"]["queue"] == "bk-unit.slow"
    assert [p["name"] for p in check["parameters"]] == ["url", "timeout", "expect_status"]


def test_enqueueing_an_unknown_job_is_a_404_naming_it_and_stores_nothing(
    app_and_store: Any,
) -> None:
    client, store = app_and_store
    response = client.post("/api/jobs/rotate_logs/runs", json={})
    assert response.status_code == 404
    assert "unknown job 'rotate_logs'" in response.json()["detail"]
    assert store.list() == []


def test_bad_arguments_are_a_422_naming_each_field_and_store_nothing(app_and_store: Any) -> None:
    client, store = app_and_store
    response = client.post(
        "/api/jobs/check_url/runs", json={"kwargs": {"url": "not a url", "timeout": 0, "x": 1}}
    )
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"url", "timeout", "x"}
    assert store.list() == []


def test_an_unknown_queue_is_a_422_naming_the_queue_field(app_and_store: Any) -> None:
    client, store = app_and_store
    response = client.post("/api/jobs/runs_report/runs", json={"queue": "fast"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "queue"
    assert store.list() == []


def test_a_body_with_unexpected_keys_is_refused(app_and_store: Any) -> None:
    client, _ = app_and_store
    response = client.post("/api/jobs/runs_report/runs", json={"kwarg": {"hours": 1}})
    assert response.status_code == 422


def test_a_broker_that_cannot_confirm_gives_503_and_leaves_no_run(app_and_store: Any) -> None:
    client, store = app_and_store
    response = client.post("/api/jobs/runs_report/runs", json={"kwargs": {"hours": 1}})
    assert response.status_code == 503
    assert "nothing stored" in response.json()["detail"]
    assert store.list() == []


def test_health_reports_an_unreachable_broker_as_503(app_and_store: Any) -> None:
    client, _ = app_and_store
    response = client.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["broker"]["ok"] is False and body["database"]["ok"] is True


def test_an_unknown_run_is_a_404_and_an_unknown_state_filter_a_422(app_and_store: Any) -> None:
    client, _ = app_and_store
    assert client.get("/api/runs/nope").status_code == 404
    response = client.get("/api/runs", params={"state": "DONE"})
    assert response.status_code == 422
    assert "unknown state 'DONE'" in response.json()["detail"]


def test_openapi_docs_are_served_under_api_docs(app_and_store: Any) -> None:
    client, _ = app_and_store
    assert client.get("/api/docs").status_code == 200
    assert "/api/jobs/{name}/runs" in client.get("/api/openapi.json").json()["paths"]
