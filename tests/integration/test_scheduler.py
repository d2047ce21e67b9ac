"""The beat on the real broker with a real worker: fires on time, pause, resume, run now,
backfill and overlap, driven through the API."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest
from fastapi.testclient import TestClient

from broker.publisher import ConfirmingPublisher
from jobs.beat.engine import BeatConfig, BeatEngine
from jobs.celery_app import BeatkeeperCelery
from jobs.store.runs import RunRecord
from jobs.store.schedules import ScheduleStore
from tests.support.waiting import wait_for
from webapp.asgi import create_app
from webapp.settings import WebSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def api(celery_session_app: BeatkeeperCelery, celery_session_worker: Any) -> Iterator[TestClient]:
    settings = WebSettings(jobs=celery_session_app.settings)
    with TestClient(create_app(settings, celery_session_app)) as client:
        yield client


@pytest.fixture
def beat(celery_session_app: BeatkeeperCelery, celery_session_worker: Any) -> Iterator[BeatEngine]:
    """A beat engine ticking in a thread with the real clock and the real broker."""
    store = ScheduleStore(celery_session_app.store.engine)
    publisher = ConfirmingPublisher(celery_session_app.conf.broker_url)
    engine = BeatEngine(
        celery_session_app,
        store,
        publisher.publish,
        config=BeatConfig(lookahead=1.0, poll_interval=0.2),
    )
    engine.start()
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            stop.wait(min(engine.tick(), 0.2))

    thread = threading.Thread(target=loop, name="test-beat", daemon=True)
    thread.start()
    yield engine
    stop.set()
    thread.join(5)
    publisher.close()
    for record in store.page():
        store.delete(record.name, now=datetime.now(UTC), by="test")


def name() -> str:
    return f"s-{uuid.uuid4().hex[:8]}"


def create(api: TestClient, **fields: Any) -> str:
    """Create a schedule with a fresh name through the API; return the name."""
    schedule = name()
    response = api.post("/api/schedules", json={"name": schedule, **fields})
    assert response.status_code == 201, response.text
    return schedule


def runs_of(app: BeatkeeperCelery, schedule: str) -> list[RunRecord]:
    return sorted(app.store.list(schedule=schedule, limit=1000), key=lambda r: r.enqueued_at)


def test_a_schedule_created_through_the_api_fires_within_a_second_of_its_due_time(
    api: TestClient, beat: BeatEngine, celery_session_app: BeatkeeperCelery
) -> None:
    schedule = create(
        api, job="add", trigger="interval", interval_seconds=2, kwargs={"x": 20, "y": 22}
    )

    def two_done() -> list[RunRecord]:
        done = [r for r in runs_of(celery_session_app, schedule) if r.state == "SUCCESS"]
        return done[:2] if len(done) >= 2 else []

    runs = wait_for(two_done, 15)
    assert len(runs) == 2
    for run in runs:
        assert run.result == 42
        assert run.scheduled_for is not None and run.lateness_ms is not None
        assert 0 <= run.lateness_ms < 1000, run
    assert runs[1].scheduled_for - runs[0].scheduled_for == timedelta(seconds=2)
    detail = api.get(f"/api/schedules/{schedule}").json()
    assert detail["fired_count"] >= 2 and len(detail["upcoming"]) == 10


def test_a_pause_stops_a_schedule_and_a_resume_restarts_it_without_a_burst(
    api: TestClient, beat: BeatEngine, celery_session_app: BeatkeeperCelery
) -> None:
    schedule = create(
        api, job="add", trigger="interval", interval_seconds=1, kwargs={"x": 1}, catch_up="all"
    )
    wait_for(lambda: len(runs_of(celery_session_app, schedule)) >= 1, 10)
    paused = api.post(
        f"/api/schedules/{schedule}/pause", json={"changed_by": "ops", "reason": "db"}
    )
    assert paused.json()["enabled"] is False
    wait_for(lambda: beat.seen_version >= beat.schedules.current_version(), 5)
    # Fires sent ahead before the beat saw the pause may be due up to one look-ahead later.
    quiet_from = datetime.now(UTC) + timedelta(seconds=beat.config.lookahead)
    # A window in which the schedule would fire about three times; not a wait for a condition.
    time.sleep(beat.config.lookahead + 3.0)
    resumed_at = datetime.now(UTC)
    api.post(f"/api/schedules/{schedule}/resume", json={"changed_by": "ops"})

    def live() -> list[RunRecord]:
        return [r for r in runs_of(celery_session_app, schedule) if r.state != "CANCELLED"]

    # Firing resumes: two fires after the resume, one second apart.
    wait_for(
        lambda: len([r for r in live() if (r.scheduled_for or quiet_from) > resumed_at]) >= 2, 10
    )
    # Nothing fired while paused, and catch_up="all" did not send the paused seconds either.
    fired = [r.scheduled_for for r in live() if r.scheduled_for]
    assert [at for at in fired if quiet_from <= at <= resumed_at] == []


def test_run_now_and_backfill_send_exactly_the_requested_fires(
    api: TestClient, beat: BeatEngine, celery_session_app: BeatkeeperCelery
) -> None:
    schedule = create(
        api, job="add", trigger="cron", cron="0 3 * * *", timezone="Europe/Paris", kwargs={"x": 5}
    )
    now_run = api.post(f"/api/schedules/{schedule}/run")
    assert now_run.status_code == 202

    start, end = "2026-03-27T00:00:00+01:00", "2026-03-31T00:00:00+02:00"
    filled = api.post(f"/api/schedules/{schedule}/backfill", json={"start": start, "end": end})
    assert filled.status_code == 202, filled.text
    assert len(filled.json()) == 4  # 03:00 Paris on the 27th, 28th, 29th (DST day) and 30th
    again = api.post(f"/api/schedules/{schedule}/backfill", json={"start": start, "end": end})
    assert again.status_code == 202 and again.json() == []  # nothing is sent twice

    runs = wait_for(
        lambda: (
            (rs := runs_of(celery_session_app, schedule))
            and len(rs) == 5
            and all(r.state == "SUCCESS" for r in rs)
            and rs
        ),
        20,
    )
    backfilled = [r for r in runs if r.id != now_run.json()["id"]]
    assert sorted(r.scheduled_for for r in backfilled if r.scheduled_for) == [
        datetime(2026, 3, 27, 2, tzinfo=UTC),
        datetime(2026, 3, 28, 2, tzinfo=UTC),
        datetime(2026, 3, 29, 1, tzinfo=UTC),
        datetime(2026, 3, 30, 1, tzinfo=UTC),
    ]


def test_overlap_skip_does_not_fire_while_a_slow_run_is_in_progress(
    api: TestClient, beat: BeatEngine, celery_session_app: BeatkeeperCelery
) -> None:
    schedule = create(
        api,
        job="sleep_for",
        trigger="interval",
        interval_seconds=1,
        kwargs={"seconds": 2.5},
        overlap="skip",
    )
    wait_for(lambda: any(r.state == "SKIPPED" for r in runs_of(celery_session_app, schedule)), 10)
    api.post(f"/api/schedules/{schedule}/pause")
    runs = runs_of(celery_session_app, schedule)
    skipped = [r for r in runs if r.state == "SKIPPED"]
    assert skipped and all("overlap=skip" in (r.reason or "") for r in skipped)
    # Never two runs of the schedule at once: every sent run started after the previous ended.
    sent = [r for r in runs if r.state in ("STARTED", "SUCCESS")]
    for before, after in pairwise(sent):
        assert before.finished_at is not None and after.started_at is not None
        assert after.started_at >= before.finished_at


def test_invalid_schedules_are_refused_with_each_field_named_and_nothing_stored(
    api: TestClient, celery_session_app: BeatkeeperCelery
) -> None:
    response = api.post(
        "/api/schedules",
        json={
            "name": "bad one",
            "job": "add",
            "trigger": "interval",
            "interval_seconds": -5,
            "timezone": "Mars/Olympus",
            "kwargs": {"x": "nope"},
        },
    )
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert fields == {"name", "interval_seconds", "timezone", "kwargs.x"}
    cron = api.post(
        "/api/schedules",
        json={
            "name": "bad-cron",
            "job": "add",
            "trigger": "cron",
            "cron": "* * 31 2 *",
            "timezone": "Mars/Olympus",
            "kwargs": {"x": 1},
        },
    )
    assert cron.status_code == 422
    assert {e["field"] for e in cron.json()["errors"]} == {"timezone", "cron"}
    unknown = api.post(
        "/api/schedules", json={"name": "x", "job": "nope", "trigger": "cron", "cron": "* * * * *"}
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "job"
    assert api.get("/api/schedules/bad-cron").status_code == 404
    assert [s["name"] for s in api.get("/api/schedules").json()] == []


def test_a_fire_sent_ahead_is_cancelled_by_a_pause_and_the_worker_does_not_run_it(
    api: TestClient, beat: BeatEngine, celery_session_app: BeatkeeperCelery
) -> None:
    schedule = create(api, job="add", trigger="interval", interval_seconds=3, kwargs={"x": 1})

    def held() -> RunRecord | None:
        now = datetime.now(UTC)
        return next(
            (
                r
                for r in runs_of(celery_session_app, schedule)
                if r.state == "PENDING"
                and r.scheduled_for
                and r.scheduled_for > now + timedelta(seconds=0.3)
            ),
            None,
        )

    ahead = wait_for(held, 10)
    api.post(f"/api/schedules/{schedule}/pause", json={"reason": "hold everything"})
    assert ahead.scheduled_for is not None
    due = ahead.scheduled_for
    # Once the fire is due its message is released to the work queue; a run enqueued after
    # that on the same queue finishing means the one-at-a-time worker has handled it.
    wait_for(lambda: datetime.now(UTC) > due + timedelta(seconds=0.2), 10)
    probe = api.post("/api/jobs/add/runs", json={"kwargs": {"x": 1, "y": 2}})
    assert probe.status_code == 202, probe.text
    probe_id = probe.json()["id"]
    wait_for(lambda: (r := celery_session_app.store.get(probe_id)) and r.state == "SUCCESS", 20)

    record = celery_session_app.store.get(ahead.id)
    assert record is not None
    assert (record.state, record.attempts, record.reason) == ("CANCELLED", 0, "schedule paused")
    assert record.started_at is None
