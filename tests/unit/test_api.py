"""The API's validation and error shapes; nothing here reaches the broker."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jobs.factory import create_celery_app, load_registry
from jobs.schedules.jitter import jitter_offset
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


SCHEDULE = {"name": "report", "job": "runs_report", "trigger": "cron", "cron": "0 * * * *"}


def schedules_of(client: TestClient) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in client.get("/api/schedules").json()}


def test_a_patch_nulling_a_required_field_is_a_422_naming_each_and_changes_nothing(
    app_and_store: Any,
) -> None:
    client, _ = app_and_store
    created = client.post("/api/schedules", json={**SCHEDULE, "priority": 3, "queue": "slow"})
    assert created.status_code == 201, created.text
    before = client.get("/api/schedules/report").json()

    nulls = {"job": None, "timezone": None, "jitter_seconds": None, "enabled": None}
    response = client.patch("/api/schedules/report", json={**nulls, "priority": 5})

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {e["field"] for e in errors} == set(nulls)
    assert {e["message"] for e in errors} == {"must not be null"}
    assert client.get("/api/schedules/report").json() == before

    cleared = client.patch("/api/schedules/report", json={"priority": None, "queue": None})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["priority"] is None and cleared.json()["queue"] is None


def test_out_of_range_schedule_values_are_a_422_naming_the_field(app_and_store: Any) -> None:
    client, _ = app_and_store
    huge = {**SCHEDULE, "trigger": "interval", "cron": None, "interval_seconds": 10**12}
    response = client.post("/api/schedules", json=huge)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["interval_seconds"]
    far = {**SCHEDULE, "trigger": "once", "cron": None, "run_at": "9999-12-31T23:00:00Z"}
    assert client.post("/api/schedules", json=far).json()["errors"][0]["field"] == "run_at"
    assert schedules_of(client) == {}


def test_an_edit_inside_the_jitter_window_keeps_the_fire_not_yet_sent(app_and_store: Any) -> None:
    client, _ = app_and_store
    manager = client.app.state.schedules
    hour = datetime(2026, 6, 1, 12, tzinfo=UTC)
    manager.clock = lambda: hour - timedelta(minutes=30)
    assert (
        client.post("/api/schedules", json={**SCHEDULE, "jitter_seconds": 600}).status_code == 201
    )
    offset = jitter_offset("report", 600)

    # 12:00 is due but, jittered, is only sent at 12:00 + offset: an edit now must keep it.
    manager.clock = lambda: hour + timedelta(seconds=offset - 1)
    edited = client.patch("/api/schedules/report", json={"kwargs": {"hours": 2}})
    assert edited.status_code == 200, edited.text
    assert datetime.fromisoformat(edited.json()["next_fire_at"]) == hour

    paused = client.post("/api/schedules/report/pause")
    resumed = client.post("/api/schedules/report/resume")
    assert paused.status_code == resumed.status_code == 200
    assert datetime.fromisoformat(resumed.json()["next_fire_at"]) == hour


def test_backfilling_up_to_a_future_end_is_a_422_naming_end(app_and_store: Any) -> None:
    client, store = app_and_store
    assert client.post("/api/schedules", json=SCHEDULE).status_code == 201
    now = datetime.now(UTC)
    body = {
        "start": (now - timedelta(days=1)).isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
    }
    response = client.post("/api/schedules/report/backfill", json=body)
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "end", "message": "must not be in the future; the beat sends future fires"}
    ]
    assert store.list() == []


def test_api_writes_from_another_origin_are_refused_and_change_nothing(
    app_and_store: Any,
) -> None:
    client, _ = app_and_store
    refused = {"detail": "cross-origin request refused", "errors": []}
    foreign = client.post(
        "/api/schedules", json=SCHEDULE, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403 and foreign.json() == refused
    assert schedules_of(client) == {}

    same = client.post("/api/schedules", json=SCHEDULE, headers={"Origin": "http://testserver"})
    assert same.status_code == 201, same.text
    for origin in ("http://testserver:8080", "https://testserver", "null"):
        response = client.delete("/api/schedules/report", headers={"Origin": origin})
        assert response.status_code == 403 and response.json() == refused
    patched = client.patch(
        "/api/schedules/report", json={"enabled": False}, headers={"Origin": "http://evil.example"}
    )
    assert patched.status_code == 403
    assert schedules_of(client)["report"]["enabled"] is True
    # Reads are not writes, and a request without Origin (curl, another server) passes.
    assert (
        client.get("/api/schedules", headers={"Origin": "http://evil.example"}).status_code == 200
    )
    default_port = client.patch(
        "/api/schedules/report", json={"enabled": False}, headers={"Origin": "http://testserver:80"}
    )
    assert default_port.status_code == 200
    assert client.delete("/api/schedules/report").status_code == 204
    assert schedules_of(client) == {}


def test_an_edit_that_keeps_an_interval_keeps_its_grid(app_and_store: Any) -> None:
    client, _ = app_and_store
    manager = client.app.state.schedules
    start = datetime(2026, 6, 1, 12, tzinfo=UTC)
    manager.clock = lambda: start
    every_hour = {**SCHEDULE, "trigger": "interval", "cron": None, "interval_seconds": 3600}
    assert client.post("/api/schedules", json=every_hour).status_code == 201

    manager.clock = lambda: start + timedelta(minutes=10)
    edited = client.patch("/api/schedules/report", json={"kwargs": {"hours": 2}})
    assert datetime.fromisoformat(edited.json()["next_fire_at"]) == start + timedelta(hours=1)
    moved = client.patch("/api/schedules/report", json={"interval_seconds": 1800})
    assert datetime.fromisoformat(moved.json()["next_fire_at"]) == start + timedelta(minutes=40)
