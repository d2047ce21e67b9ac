"""The reaper resolves runs with no live owner (a real SQLite store and Beatkeeper's app)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from jobs.beat.planning import UNFINISHED
from jobs.celery_app import BeatkeeperCelery
from jobs.factory import create_celery_app, load_registry
from jobs.settings import JobsSettings
from jobs.store.attempts import AttemptFinished, AttemptKey, AttemptStarted, Outcome
from jobs.store.reaping import RESENT_FIRE_REASON, claim_resend, overdue_retries
from jobs.store.runs import NewRun, utcnow
from jobs.worker.reaper import MARGIN, reap_once, resend_message
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


def retrying(app: BeatkeeperCelery, run_id: str, retry_in: float) -> NewRun:
    queue = app.topology.work_queue("default").name
    run = NewRun(run_id, "add", queue, {"x": 1}, [2], schedule="s", scheduled_for=utcnow())
    at = utcnow()
    app.store.start_attempt(AttemptStarted(run, AttemptKey(0, 0), "w1", at))
    app.store.finish_attempt(
        AttemptFinished(run, AttemptKey(0, 0), Outcome.RETRY, at, error="E", retry_in=retry_in)
    )
    return run


def test_an_overdue_retry_is_claimed_by_one_reaper_only_and_not_before_its_grace(
    app: BeatkeeperCelery,
) -> None:
    retrying(app, "overdue", retry_in=1)
    grace = app.settings.worker.retry_overdue
    record = app.store.get("overdue")
    assert record is not None and record.next_retry_at is not None
    early = record.next_retry_at + timedelta(seconds=grace - 1)
    late = record.next_retry_at + timedelta(seconds=grace + 1)

    with app.store.engine.begin() as conn:
        assert overdue_retries(conn, grace, early, 10) == []
        (found,) = overdue_retries(conn, grace, late, 10)
    assert (found.id, found.attempts, found.args, found.kwargs) == ("overdue", 1, [2], {"x": 1})

    with app.store.engine.begin() as conn:  # two reapers read it; one of them sends it
        assert claim_resend(conn, found, grace, late) is True
    with app.store.engine.begin() as conn:
        assert claim_resend(conn, found, grace, late) is False
        # Due again at the claim: the next look is one grace later.
        assert overdue_retries(conn, grace, late + timedelta(seconds=grace - 1), 10) == []
        assert len(overdue_retries(conn, grace, late + timedelta(seconds=grace + 1), 10)) == 1


def test_the_re_sent_message_is_the_runs_next_attempt_with_its_arguments_and_schedule(
    app: BeatkeeperCelery,
) -> None:
    retrying(app, "again", retry_in=1)
    with app.store.engine.begin() as conn:
        (found,) = overdue_retries(conn, 0.001, utcnow() + timedelta(seconds=5), 10)

    message = resend_message(app, found)

    assert message.message_id == "again" and message.headers["id"] == "again"
    assert message.headers["task"] == "add" and message.headers["retries"] == 2
    assert message.headers["beatkeeper_schedule"] == "s"
    args, kwargs, _ = json.loads(message.body)
    assert [args, kwargs] == [[2], {"x": 1}]


def test_a_held_fire_still_pending_past_its_release_is_re_sent_once_and_not_before(
    app: BeatkeeperCelery,
) -> None:
    grace = app.settings.worker.retry_overdue
    queue = app.topology.work_queue("default").name
    now = utcnow()
    fires = [
        NewRun(
            name, "add", queue, {"x": 1}, schedule="s", scheduled_for=now - timedelta(seconds=ago)
        )
        for name, ago in (("stuck", grace + 5), ("held", grace - 5))
    ]
    with app.store.engine.begin() as conn:
        app.store.insert_pending(conn, fires, now - timedelta(seconds=grace + 60), held=True)
        (found,) = overdue_retries(conn, grace, now, 10)
        assert (found.id, found.held) == ("stuck", True)
        assert claim_resend(conn, found, grace, now) is True
        assert overdue_retries(conn, grace, now + timedelta(days=1), 10)[0].id == "held"
    stuck = app.store.get("stuck")
    assert stuck is not None and stuck.state == "PENDING" and not stuck.held
    assert stuck.reason == RESENT_FIRE_REASON and stuck.origin == "reaper"
    assert resend_message(app, found).headers["retries"] == 1
