"""Charts: inline SVG drawn on the server from the run store, on the job and schedule pages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jobs.store import make_engine
from jobs.store.attempts import AttemptFinished, AttemptKey, AttemptStarted, Outcome
from jobs.store.run_stats import failure_buckets, recent_points
from jobs.store.runs import NewRun, RunStore
from tests.support.offline import offline_web
from webapp.ui.charts import nice_ceiling, rate_bars, time_chart

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def ran(
    store: RunStore, run_id: str, due: datetime, late: float, took: float, ok: bool,
    job: str = "add",
) -> None:  # fmt: skip
    run = NewRun(run_id, job, "q", {}, schedule="every-minute", scheduled_for=due)
    with store.engine.begin() as conn:
        store.insert_pending(conn, [run], due)
    start = due + timedelta(seconds=late)
    store.start_attempt(AttemptStarted(run, AttemptKey(0, 0), "w", start))
    outcome = Outcome.SUCCESS if ok else Outcome.FAILURE
    end = start + timedelta(seconds=took)
    store.finish_attempt(AttemptFinished(run, AttemptKey(0, 0), outcome, end, "w", error="x"))


def test_nice_ceilings_are_one_two_or_five_times_a_power_of_ten() -> None:
    assert [nice_ceiling(v) for v in (0.3, 1, 1.1, 3, 7, 120, 0)] == [0.5, 1, 2, 5, 10, 200, 1]


def test_a_time_chart_marks_failed_runs_and_says_what_it_shows() -> None:
    points = [(T0, 120.0, False), (T0 + timedelta(minutes=1), 1500.0, True)]
    svg = str(time_chart("Duration", points))
    assert svg.startswith('<svg class="chart"') and "<script" not in svg
    assert 'aria-label="Duration: 2 runs, latest 1.50 s, highest 1.50 s, 1 failed"' in svg
    assert svg.count('class="point failed"') == 1 and svg.count("<circle") == 2
    assert "<title>2026-12-01 12:01:00 UTC: 1.50 s (failed)</title>" in svg
    assert ">2.00 s</text>" in svg, "the axis ends at a round value with its unit"
    assert "No runs yet" in str(time_chart("Duration", []))


def test_rate_bars_show_each_bucket_with_its_count() -> None:
    svg = str(rate_bars("Failures", [("11:00", None, 0), ("12:00", 0.25, 4), ("13:00", 0.0, 2)]))
    assert 'aria-label="Failures: 1 of 6 runs failed"' in svg
    assert "<title>12:00: 25% of 4 runs failed</title>" in svg
    assert "<title>11:00: no runs</title>" in svg and svg.count("<rect") == 3


def test_the_store_gives_recent_points_oldest_first_and_hourly_failure_counts(
    free_sqlite_url: str,
) -> None:
    store = RunStore(make_engine(free_sqlite_url))
    ran(store, "a", T0, 0.5, 0.1, True)
    ran(store, "b", T0 + timedelta(minutes=1), 2.0, 0.3, False)
    ran(store, "c", T0 + timedelta(hours=1), 0.2, 0.2, True)
    points = recent_points(store.engine, schedule="every-minute")
    assert [p.at for p in points] == [T0, T0 + timedelta(minutes=1), T0 + timedelta(hours=1)]
    assert points[1].failed and points[1].lateness_ms == pytest.approx(2000)
    assert points[1].runtime_ms == pytest.approx(300)
    buckets = failure_buckets(store.engine, "add", T0 + timedelta(hours=2), count=3)
    assert [(b.succeeded, b.failed) for b in buckets] == [(0, 0), (1, 1), (1, 0)]
    assert buckets[1].failure_rate == 0.5 and buckets[0].failure_rate is None


@pytest.fixture
def client(free_sqlite_url: str) -> Iterator[tuple[TestClient, RunStore]]:
    with offline_web(free_sqlite_url, "bk-charts") as web:
        yield web


def test_the_job_and_schedule_pages_carry_their_charts_in_live_regions(client: Any) -> None:
    http, store = client
    created = http.post(
        "/api/schedules",
        json={"name": "every-minute", "job": "runs_report", "trigger": "cron", "cron": "* * * * *"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    now = datetime.now(UTC).replace(microsecond=0)
    ran(store, "a", now - timedelta(minutes=2), 0.5, 0.1, True, job="runs_report")
    ran(store, "b", now - timedelta(minutes=1), 1.0, 0.2, False, job="runs_report")
    job = http.get("/jobs/runs_report").text
    assert '<div id="job-charts" class="charts" data-live-region>' in job
    assert job.count('<svg class="chart"') == 3, "duration, lateness and failure rate"
    assert "1 of 2 runs failed" in job
    schedule = http.get("/schedules/every-minute").text
    assert '<div id="schedule-charts" class="charts" data-live-region>' in schedule
    assert 'aria-label="Lateness: 2 runs, latest 1.00 s' in schedule
