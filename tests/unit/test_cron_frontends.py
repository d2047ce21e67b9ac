"""Each schedule's plain-language description reaches the API, the pages and the CLI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from jobs.factory import create_celery_app, load_registry
from jobs.settings import JobsSettings
from tests.conftest import settings_env
from webapp.asgi import create_app
from webapp.cli import main
from webapp.settings import WebSettings

WEEKDAYS = {
    "name": "weekday-report",
    "job": "runs_report",
    "trigger": "cron",
    "cron": "0 9 * * 1-5",
    "timezone": "Europe/London",
}


@pytest.fixture
def env(free_sqlite_url: str) -> dict[str, str]:
    return settings_env("bk-cron-fe", free_sqlite_url, "amqp://guest:guest@127.0.0.1:1//")


@pytest.fixture
def client(env: dict[str, str]) -> Iterator[TestClient]:
    settings = WebSettings(jobs=JobsSettings.from_env(env))
    celery_app = create_celery_app(settings.jobs, load_registry("jobs.examples"))
    with TestClient(create_app(settings, celery_app)) as test_client:
        yield test_client


def test_the_api_describes_each_schedule_and_notes_what_may_surprise(client: TestClient) -> None:
    created = client.post("/api/schedules", json=WEEKDAYS)
    assert created.status_code == 201, created.text
    assert created.json()["description"] == "at 09:00 on Monday to Friday, Europe/London"
    either = {**WEEKDAYS, "name": "either", "cron": "0 12 29 2 1", "timezone": "UTC"}
    assert client.post("/api/schedules", json=either).status_code == 201
    shown = client.get("/api/schedules/either").json()
    assert shown["description"] == "at 12:00 on day 29 of the month, or on Monday in February, UTC"
    assert "a day matches when either does" in shown["notes"][0]
    listed = {s["name"]: s for s in client.get("/api/schedules").json()}
    assert listed["weekday-report"]["notes"] == []


def test_the_pages_show_the_description_in_the_list_and_on_the_schedule(
    client: TestClient,
) -> None:
    assert client.post("/api/schedules", json=WEEKDAYS).status_code == 201
    sentence = "at 09:00 on Monday to Friday, Europe/London"
    assert sentence in client.get("/schedules").text
    assert sentence in client.get("/schedules/weekday-report").text


def test_the_cli_lists_and_shows_the_description(env: dict[str, str]) -> None:
    cli = CliRunner(env=env)
    made = cli.invoke(
        main,
        [
            *("schedules", "create", "weekday-report", "--job", "runs_report"),
            *("--cron", "0 9 * * 1-5", "--timezone", "Europe/London"),
        ],
    )
    assert made.exit_code == 0, made.output
    listed = cli.invoke(main, ["schedules", "list"])
    assert listed.stdout.rstrip().endswith("# at 09:00 on Monday to Friday, Europe/London")
    shown = cli.invoke(main, ["schedules", "show", "weekday-report"])
    assert '"description": "at 09:00 on Monday to Friday, Europe/London"' in shown.stdout
