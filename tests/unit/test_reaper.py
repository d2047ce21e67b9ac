"""The reaper resolves runs with no live owner (a real SQLite store and Beatkeeper's app)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from jobs.beat.planning import UNFINISHED
from jobs.celery_app import BeatkeeperCelery
from jobs.factory import create_celery_app, load_registry
from jobs.settings import JobsSettings
from jobs.store.attempts import AttemptKey, AttemptStarted
from jobs.store.runs import NewRun, utcnow
from jobs.worker.reaper import MARGIN, reap_once
from tests.conftest import settings_env
from tests.support import testjobs


@pytest.fixture
def app(free_sqlite_url: str) -> Any:
    settings = JobsSettings.from_env(settings_env("bk-reaper", free_sqlite_url))
    registry = load_registry("jobs.examples").merge(testjobs.registry)
    app = create_celery_app(settings, registry, main="beatkeeper-reaper")
    yield app
    app.store.engine.dispose()


def started(app: BeatkeeperCelery, run_id: str, seconds_ago: float) -> None:
    run = NewRun(run_id, "add", "bk.default", {"x": 1}, schedule="s")
    at = utcnow() - timedelta(seconds=seconds_ago)
    app.store.start_attempt(AttemptStarted(run, AttemptKey(0, 0), "gone@host", at))


def test_a_run_started_longer_ago_than_its_hard_limit_allows_is_resolved_as_worker_lost(
    app: Any,
) -> None:
    limit = app.tasks["add"].time_limit + MARGIN
    started(app, "stale", seconds_ago=limit + 5)
    started(app, "alive", seconds_ago=limit - 30)

    assert reap_once(app)["started"] == 1

    stale, alive = app.store.get("stale"), app.store.get("alive")
    assert stale.state == "FAILURE" and "no live owner" in stale.error
    assert [a.outcome for a in stale.history] == ["WORKER_LOST"]
    assert alive.state == "STARTED"
    # It no longer blocks an overlap=skip schedule behind it.
    assert stale.state not in UNFINISHED and alive.state in UNFINISHED


def test_a_run_pending_long_past_its_due_time_is_resolved_with_its_reason(
    app: BeatkeeperCelery,
) -> None:
    after = app.settings.worker.reap_pending_after
    long_ago = utcnow() - timedelta(seconds=after + 60)
    with app.store.engine.begin() as conn:
        app.store.insert_pending(conn, [NewRun("lost", "add", "bk.default", {})], long_ago)
        app.store.insert_pending(conn, [NewRun("queued", "add", "bk.default", {})], utcnow())

    assert reap_once(app)["waiting"] == 1

    lost = app.store.get("lost")
    assert lost is not None
    assert lost.state == "FAILURE" and "no worker took its message" in (lost.error or "")
    queued = app.store.get("queued")
    assert queued is not None and queued.state == "PENDING"


def test_a_resolved_run_whose_message_turns_up_runs_again(app: BeatkeeperCelery) -> None:
    limit = app.tasks["add"].time_limit + MARGIN
    started(app, "late", seconds_ago=limit + 5)
    reap_once(app)

    run = NewRun("late", "add", "bk.default", {"x": 1})
    assert app.store.start_attempt(AttemptStarted(run, AttemptKey(0, 1), "w2", utcnow()))
    late = app.store.get("late")
    assert late is not None and late.state == "STARTED"
