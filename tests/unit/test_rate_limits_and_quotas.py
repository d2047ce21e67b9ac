"""Rate limits per principal (429 + Retry-After) and the caps on schedules and history."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from jobs.errors import RateLimited
from jobs.factory import create_celery_app, load_registry
from jobs.schedules.definition import ScheduleDefinition
from jobs.schedules.kinds import TriggerKind
from jobs.services.schedules import ScheduleManager
from jobs.settings import JobsSettings
from jobs.store.tables import runs, schedules
from jobs.worker.reaper import trim_once
from tests.conftest import settings_env
from tests.support.pages import schedule_form
from tests.unit.test_schedule_ui import csrf
from webapp.asgi import create_app
from webapp.ratelimits import Limited, RateLimits
from webapp.settings import WebSettings

CRON = {"job": "runs_report", "trigger": "cron", "cron": "0 3 * * *"}


def build(database_url: str, env: dict[str, str] | None = None, **web: Any) -> TestClient:
    values = settings_env("bk-limits", database_url, "amqp://guest:guest@127.0.0.1:1//")
    settings = WebSettings(jobs=JobsSettings.from_env({**values, **(env or {})}), **web)
    app = create_app(settings, create_celery_app(settings.jobs, load_registry("jobs.examples")))
    return TestClient(app)


@pytest.fixture
def client(free_sqlite_url: str) -> Iterator[TestClient]:
    with build(
        free_sqlite_url, rate_limit_schedules="3/minute", rate_limit_enqueue="2/minute"
    ) as c:
        yield c


def test_schedule_writes_over_the_limit_are_a_429_with_retry_after(client: TestClient) -> None:
    for name in ("a", "b", "c"):
        assert client.post("/api/schedules", json={"name": name, **CRON}).status_code == 201
    refused = client.post("/api/schedules", json={"name": "d", **CRON})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "schedule writes" in refused.json()["detail"]
    assert client.delete("/api/schedules/a").status_code == 429  # every write counts
    assert client.get("/api/schedules").status_code == 200  # reads do not
    assert [s.name for s in client.app.state.schedules.page()] == ["a", "b", "c"]  # type: ignore[attr-defined]


def test_enqueues_over_the_limit_are_a_429_before_the_broker_is_asked(client: TestClient) -> None:
    for _ in range(2):  # no broker here: each reaches it and gets its 503
        assert client.post("/api/jobs/runs_report/runs", json={}).status_code == 503
    assert client.post("/api/jobs/runs_report/runs", json={}).status_code == 429


def test_bulk_retries_and_cancels_count_as_enqueues(client: TestClient) -> None:
    bulk = {"action": "cancel", "confirm": True}
    for _ in range(2):
        assert client.post("/api/runs/bulk", json=bulk).status_code == 200
    assert client.post("/api/runs/bulk", json=bulk).status_code == 429
    form = {"confirm": "yes", "csrf": csrf(client)}  # the CSRF check comes first
    assert client.post("/runs/bulk/cancel", data=form).status_code == 429


def test_the_ui_forms_count_against_the_same_limits(client: TestClient) -> None:
    token = csrf(client)
    for n in range(3):
        page = client.post("/schedules/new", data=schedule_form(csrf=token, name=f"ui{n}"))
        assert page.status_code in (200, 302), page.text
    refused = client.post("/schedules/new", data=schedule_form(csrf=token, name="ui4"))
    assert refused.status_code == 429
    assert "retry-after" in refused.headers


def test_each_principal_has_its_own_window() -> None:
    limits = RateLimits("2/minute", "off")
    for _ in range(2):
        limits.hit(Limited.ENQUEUE, "ann")
    with pytest.raises(RateLimited):
        limits.hit(Limited.ENQUEUE, "ann")
    limits.hit(Limited.ENQUEUE, "bob")
    for _ in range(100):
        limits.hit(Limited.SCHEDULES, "ann")  # off


def test_a_bad_rate_is_refused_when_the_settings_are_read() -> None:
    with pytest.raises(ValueError, match="BEATKEEPER_RATE_LIMIT_ENQUEUE"):
        WebSettings.from_env({"BEATKEEPER_RATE_LIMIT_ENQUEUE": "lots"})


def test_creates_and_imports_beyond_max_schedules_are_refused_whole(
    free_sqlite_url: str,
) -> None:
    with build(free_sqlite_url, {"BEATKEEPER_MAX_SCHEDULES": "2"}) as c:
        assert c.post("/api/schedules", json={"name": "a", **CRON}).status_code == 201
        line = '{{"name": "i{}", "job": "runs_report", "trigger": "cron", "cron": "0 3 * * *"}}'
        two = "\n".join(line.format(n) for n in (1, 2))
        imported = c.post(
            "/api/schedules/import", content=two, headers={"content-type": "application/x-ndjson"}
        )
        assert imported.status_code == 409
        assert "BEATKEEPER_MAX_SCHEDULES" in imported.json()["detail"]
        assert c.post("/api/schedules", json={"name": "b", **CRON}).status_code == 201
        third = c.post("/api/schedules", json={"name": "c", **CRON})
        assert third.status_code == 409
        assert [s.name for s in c.app.state.schedules.page()] == ["a", "b"]  # type: ignore[attr-defined]


def test_the_reaper_trims_old_runs_and_runtime_tombstones_but_keeps_code_ones(
    free_sqlite_url: str,
) -> None:
    env = settings_env("bk-trim", free_sqlite_url)
    celery_app = create_celery_app(JobsSettings.from_env(env), load_registry("jobs.examples"))
    manager = ScheduleManager(celery_app)
    old = datetime.now(UTC) - timedelta(days=40)
    manager.clock = lambda: old
    for name, by in (("runtime-gone", "api"), ("code-gone", "code")):
        definition = ScheduleDefinition(
            name=name, job="runs_report", trigger=TriggerKind.CRON, cron="0 3 * * *"
        )
        manager.create(definition, by)
        manager.delete(name, by)
    store = celery_app.store
    with store.engine.begin() as conn:
        conn.execute(update(schedules).where(schedules.c.name == "code-gone").values(source="code"))
        for run_id, state in (("old-done", "SUCCESS"), ("old-pending", "PENDING")):
            conn.execute(
                runs.insert().values(
                    id=run_id,
                    job="runs_report",
                    queue="q",
                    args=[],
                    kwargs={},
                    state=state,
                    attempts=1,
                    enqueued_at=old,
                    dead_lettered=False,
                )
            )
    trimmed = trim_once(SimpleNamespace(settings=celery_app.settings, store=store))
    assert trimmed == {"runs": 1, "tombstones": 1}
    assert manager.store.get("code-gone", include_deleted=True).deleted
    assert [r.id for r in store.list()] == ["old-pending"]  # unfinished runs stay
