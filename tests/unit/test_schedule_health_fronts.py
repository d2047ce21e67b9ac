"""Schedule health and the grace period through the API, the UI and the CLI."""

from __future__ import annotations

import socket
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

NO_BROKER = "amqp://guest:guest@127.0.0.1:1//"


@pytest.fixture
def client(free_sqlite_url: str) -> Iterator[TestClient]:
    settings = WebSettings(
        jobs=JobsSettings.from_env(settings_env("bk-h", free_sqlite_url, NO_BROKER))
    )
    celery_app = create_celery_app(settings.jobs, load_registry("jobs.examples"))
    with TestClient(create_app(settings, celery_app)) as client:
        yield client


def create(client: TestClient, **fields: object) -> dict[str, object]:
    body = {"name": "hourly", "job": "runs_report", "trigger": "cron", "cron": "0 * * * *"}
    answer = client.post("/api/schedules", json={**body, **fields})
    assert answer.status_code == 201, answer.text
    created: dict[str, object] = answer.json()
    return created


def test_the_api_lists_and_shows_each_schedule_with_its_health(client: TestClient) -> None:
    create(client, grace_seconds=120)
    listed = client.get("/api/schedules").json()
    assert listed[0]["status"]["state"] == "new"
    assert listed[0]["status"]["grace_seconds"] == 120
    detail = client.get("/api/schedules/hourly").json()
    assert detail["grace_seconds"] == 120
    assert detail["status"]["state"] == "new" and detail["status"]["last_outcome"] is None
    client.post("/api/schedules/hourly/pause", json={"reason": "maintenance"})
    assert client.get("/api/schedules/hourly").json()["status"]["state"] == "paused"


def test_the_default_grace_is_a_tenth_of_the_period(client: TestClient) -> None:
    create(client)
    assert client.get("/api/schedules/hourly").json()["status"]["grace_seconds"] == 360


def test_a_negative_grace_is_refused_naming_the_field_and_nothing_is_stored(
    client: TestClient,
) -> None:
    answer = client.post(
        "/api/schedules",
        json={"name": "x", "job": "runs_report", "trigger": "cron", "cron": "* * * * *",
              "grace_seconds": -1},
    )  # fmt: skip
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["grace_seconds"]
    assert client.get("/api/schedules").json() == []


def test_a_grace_can_be_changed_and_cleared_with_a_patch(client: TestClient) -> None:
    create(client, grace_seconds=120)
    assert client.patch("/api/schedules/hourly", json={"grace_seconds": 30}).status_code == 200
    assert client.get("/api/schedules/hourly").json()["status"]["grace_seconds"] == 30
    assert client.patch("/api/schedules/hourly", json={"grace_seconds": None}).status_code == 200
    assert client.get("/api/schedules/hourly").json()["status"]["grace_seconds"] == 360


def test_the_schedule_pages_show_the_health_state_and_its_reason(client: TestClient) -> None:
    create(client)
    listing = client.get("/schedules").text
    assert 'class="health health-new"' in listing and "no run has finished yet" in listing
    detail = client.get("/schedules/hourly").text
    assert "Health" in detail and "health-new" in detail and "360 s" in detail


def test_the_cli_lists_the_health_state_and_takes_a_grace(free_sqlite_url: str) -> None:
    cli = CliRunner(env=settings_env("bk-h-cli", free_sqlite_url, NO_BROKER))
    created = cli.invoke(
        main, ["schedules", "create", "hourly", "--job", "runs_report", "--cron", "0 * * * *",
               "--grace", "90"],
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    listing = cli.invoke(main, ["schedules", "list"])
    assert listing.stdout.split()[:2] == ["hourly", "new"]
    bad = cli.invoke(main, ["schedules", "edit", "hourly", "--grace", "-5"])
    assert bad.exit_code == 2 and "grace_seconds" in bad.output


@pytest.mark.parametrize("command", [["schedules", "list"], ["schedules", "show", "hourly"]])
def test_the_cli_says_the_store_is_unavailable_in_one_line_when_it_cannot_be_reached(
    command: list[str],
) -> None:
    with socket.socket() as sock:  # a port nothing listens on: connections are refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = f"postgresql://postgres@127.0.0.1:{port}/beatkeeper"
    result = CliRunner(env=settings_env("bk-h-down", down, NO_BROKER)).invoke(main, command)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    [line] = result.stderr.splitlines()
    assert line.startswith("error: the run store is unavailable (OperationalError): ")
    assert "Connection refused" in line or "connection failed" in line
