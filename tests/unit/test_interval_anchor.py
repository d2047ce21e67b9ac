"""Interval schedules count elapsed time; a chosen anchor sets the phase of their grid."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from jobs.factory import create_celery_app, load_registry
from jobs.schedules.definition import next_nominal
from jobs.schedules.triggers import IntervalTrigger, phase_anchor
from jobs.services.schedules import ScheduleManager
from jobs.settings import JobsSettings
from tests.conftest import settings_env
from webapp.asgi import create_app
from webapp.cli import main
from webapp.settings import WebSettings

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


def test_a_daily_interval_counts_elapsed_time_across_spring_forward() -> None:
    # Created at 09:00 EST on 2026-03-07: the next day's fire is 24 hours later, 10:00 EDT.
    created = datetime(2026, 3, 7, 9, tzinfo=NEW_YORK)
    trigger = IntervalTrigger(86400, created)
    fire = trigger.next_after(created)
    assert fire is not None
    assert fire.astimezone(NEW_YORK).strftime("%H:%M %Z") == "10:00 EDT"


def test_an_anchor_in_the_past_is_kept_and_fires_continue_on_its_grid() -> None:
    anchor = datetime(2025, 6, 1, 0, 15, tzinfo=UTC)
    assert phase_anchor(anchor, 3600, NOW) == anchor
    trigger = IntervalTrigger(3600, phase_anchor(anchor, 3600, NOW))
    assert next_nominal(trigger, "s", 0, NOW) == datetime(2026, 1, 1, 12, 15, tzinfo=UTC)


def test_a_future_anchor_steps_back_whole_periods_so_its_day_fires_first_at_its_time() -> None:
    tomorrow_nine = datetime(2026, 1, 2, 9, tzinfo=UTC)
    stored = phase_anchor(tomorrow_nine, 86400, NOW)
    assert stored == datetime(2026, 1, 1, 9, tzinfo=UTC)
    trigger = IntervalTrigger(86400, stored)
    assert next_nominal(trigger, "s", 0, NOW) == tomorrow_nine


def test_a_future_anchor_is_a_phase_so_a_short_interval_starts_before_it() -> None:
    stored = phase_anchor(datetime(2026, 1, 2, 9, 15, tzinfo=UTC), 3600, NOW)
    trigger = IntervalTrigger(3600, stored)
    assert next_nominal(trigger, "s", 0, NOW) == datetime(2026, 1, 1, 12, 15, tzinfo=UTC)


def test_an_anchor_with_any_offset_is_stored_in_utc() -> None:
    paris_nine = datetime(2025, 1, 1, 9, tzinfo=timezone(timedelta(hours=1)))
    assert phase_anchor(paris_nine, 60, NOW) == datetime(2025, 1, 1, 8, tzinfo=UTC)
    assert phase_anchor(paris_nine, 60, NOW).tzinfo is UTC


# Through the front ends: the API, the form and the CLI share one input model.

FIXED = datetime(2026, 1, 10, 12, tzinfo=UTC)  # 12:00 in London (GMT)
HOURLY = {"name": "hourly", "job": "runs_report", "trigger": "interval", "interval_seconds": 3600}


@pytest.fixture
def env(free_sqlite_url: str) -> dict[str, str]:
    return settings_env("bk-anchor", free_sqlite_url, "amqp://guest:guest@127.0.0.1:1//")


@pytest.fixture
def client(env: dict[str, str]) -> Iterator[TestClient]:
    settings = WebSettings(jobs=JobsSettings.from_env(env))
    celery_app = create_celery_app(settings.jobs, load_registry("jobs.examples"))
    with TestClient(create_app(settings, celery_app)) as test_client:
        manager: ScheduleManager = test_client.app.state.schedules  # type: ignore[attr-defined]
        manager.clock = lambda: FIXED
        yield test_client


def test_an_api_anchor_read_as_wall_time_sets_the_phase_of_an_interval(
    client: TestClient,
) -> None:
    body = {**HOURLY, "anchor": "2026-01-11T09:15:00", "timezone": "Europe/London"}
    created = client.post("/api/schedules", json=body)
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["anchor"] == "2026-01-10T11:15:00Z"
    assert schedule["next_fire_at"] == "2026-01-10T12:15:00Z"
    assert schedule["description"] == (
        "every 1 hour of elapsed time, in step with 2026-01-10 11:15:00 UTC"
    )


def test_an_edit_with_an_anchor_moves_the_grid_and_one_without_keeps_it(
    client: TestClient,
) -> None:
    assert client.post("/api/schedules", json=HOURLY).status_code == 201
    moved = client.patch("/api/schedules/hourly", json={"anchor": "2020-01-01T00:40:00+00:00"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["next_fire_at"] == "2026-01-10T12:40:00Z"
    kept = client.patch("/api/schedules/hourly", json={"jitter_seconds": 5})
    assert kept.json()["anchor"] == "2020-01-01T00:40:00Z"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"trigger": "cron", "cron": "0 9 * * *", "interval_seconds": None}, "only an interval"),
        ({"anchor": "2026-03-29T01:30:00", "timezone": "Europe/London"}, "does not exist"),
        ({"anchor": "next tuesday"}, "not an ISO 8601 date and time"),
        ({"anchor": "9999-01-01T00:00:00Z"}, "year must be between 1970 and 9000"),
    ],
)
def test_a_bad_anchor_is_a_422_naming_the_anchor(
    client: TestClient, body: dict[str, object], message: str
) -> None:
    response = client.post("/api/schedules", json={**HOURLY, "anchor": "2026-01-01T00:00Z", **body})
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["field"] for e in errors] == ["anchor"]
    assert message in errors[0]["message"]


def test_the_form_takes_an_anchor_for_an_interval_and_ignores_it_for_cron(
    client: TestClient,
) -> None:
    page = client.get("/schedules/new").text
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token and 'name="anchor"' in page
    base = {
        "csrf": token.group(1),
        "job": "runs_report",
        "timezone": "Europe/London",
        "kwargs": "{}",
        "anchor": "2026-01-11T09:05:00",
        "interval_seconds": "3600",
        "cron": "0 9 * * *",
    }
    for name, trigger in (("form-interval", "interval"), ("form-cron", "cron")):
        data = {**base, "name": name, "trigger": trigger}
        posted = client.post("/schedules/new", data=data, follow_redirects=False)
        assert posted.status_code == 302, posted.text
    listed = {s["name"]: s for s in client.get("/api/schedules").json()}
    assert listed["form-interval"]["next_fire_at"] == "2026-01-10T12:05:00Z"
    assert listed["form-cron"]["anchor"] is None


def test_the_cli_takes_an_anchor_with_every(env: dict[str, str]) -> None:
    cli = CliRunner(env=env)
    made = cli.invoke(
        main,
        [
            *("schedules", "create", "cli-hourly", "--job", "runs_report", "--every", "3600"),
            *("--anchor", "2020-01-01T00:25:00Z"),
        ],
    )
    assert made.exit_code == 0, made.output
    shown = json.loads(cli.invoke(main, ["schedules", "show", "cli-hourly"]).stdout)
    assert shown["anchor"].startswith("2020-01-01T00:25:00")
    assert datetime.fromisoformat(shown["next_fire_at"]).minute == 25


def test_a_code_declared_anchor_is_synced_once_and_then_kept(free_sqlite_url: str) -> None:
    from jobs.beat.sync import sync_code_schedules
    from jobs.registry import JobRegistry
    from jobs.store.schedules import ScheduleStore

    declared = JobRegistry()
    declared.schedule(
        "quarter-past",
        "runs_report",
        interval_seconds=3600,
        anchor=datetime(2026, 1, 20, 9, 15, tzinfo=UTC),
    )
    settings = JobsSettings.from_env(
        settings_env("bk-anchor-sync", free_sqlite_url, "amqp://x@127.0.0.1:1//")
    )
    app = create_celery_app(settings, load_registry("jobs.examples").merge(declared))
    store = ScheduleStore(app.store.engine)
    assert "quarter-past" in sync_code_schedules(app, store, FIXED)["created"]
    assert store.get("quarter-past").next_fire_at == datetime(2026, 1, 10, 12, 15, tzinfo=UTC)
    later = sync_code_schedules(app, store, FIXED + timedelta(days=2, minutes=7))
    assert "quarter-past" in later["kept"], "the same grid is not an edit"
