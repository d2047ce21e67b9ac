"""Schedules in bulk: import validates everything first and writes all or nothing; export
writes what import reads (API and CLI, on SQLite, no broker reachable)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


def schedule(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "job": "runs_report", "trigger": "cron", "cron": "0 9 * * *", **fields}


def lines(*items: Any) -> str:
    return "\n".join(json.dumps(item) for item in items) + "\n"


@pytest.fixture
def client(free_sqlite_url: str) -> Iterator[TestClient]:
    settings = WebSettings(
        jobs=JobsSettings.from_env(settings_env("bk-imp", free_sqlite_url, NO_BROKER))
    )
    celery_app = create_celery_app(settings.jobs, load_registry("jobs.examples"))
    with TestClient(create_app(settings, celery_app)) as test_client:
        yield test_client


def names(client: TestClient) -> list[str]:
    return [s["name"] for s in client.get("/api/schedules").json()]


def test_an_import_of_json_lines_creates_every_schedule(client: TestClient) -> None:
    body = lines(
        schedule("a", kwargs={"hours": 2}, timezone="Europe/Paris"),
        schedule("b", trigger="interval", cron=None, interval_seconds=600),
    )
    answer = client.post(
        "/api/schedules/import", content=body, headers={"content-type": "application/x-ndjson"}
    )
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"imported": 2}
    assert names(client) == ["a", "b"]
    assert client.get("/api/schedules/a").json()["kwargs"] == {"hours": 2}


def test_an_import_with_bad_lines_names_each_line_and_field_and_stores_nothing(
    client: TestClient,
) -> None:
    client.post("/api/schedules", json=schedule("taken"))
    body = (
        lines(
            schedule("fine"),
            schedule("bad-cron", cron="61 * * * *"),
            schedule("taken"),
            schedule("fine"),
            [1, 2],
        )
        + '{"name": "broken\n'
    )
    answer = client.post("/api/schedules/import", content=body)
    assert answer.status_code == 422, answer.text
    # A line that is not JSON at all stops the import before any schedule is checked.
    assert [e["field"] for e in answer.json()["errors"]] == ["line 6"]

    answer = client.post("/api/schedules/import", content=body.rsplit("\n", 2)[0])
    assert answer.status_code == 422, answer.text
    fields = [e["field"] for e in answer.json()["errors"]]
    assert fields == ["line 2.cron", "line 3.name", "line 4.name", "line 5"]
    assert names(client) == ["taken"]


def test_an_import_of_a_json_array_reports_items_by_position(client: TestClient) -> None:
    answer = client.post(
        "/api/schedules/import", json=[schedule("a"), schedule("b", job="no_such_job")]
    )
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["line 2.job"]
    assert names(client) == []


def test_exported_schedules_import_into_another_environment_unchanged(
    client: TestClient, tmp_path: Path
) -> None:
    given = [
        schedule("cron-one", timezone="America/New_York", jitter_seconds=30, kwargs={"hours": 3}),
        schedule("every", trigger="interval", cron=None, interval_seconds=90, enabled=False),
        schedule("soon", trigger="once", cron=None, run_at="2099-01-01T10:00:00+00:00"),
    ]
    assert client.post("/api/schedules/import", json=given).status_code == 201
    exported = client.get("/api/schedules/export")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("application/x-ndjson")

    env = settings_env("bk-imp-cli", f"sqlite:///{tmp_path}/other.db", NO_BROKER)
    cli = CliRunner(env=env)
    upgraded = cli.invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    source = tmp_path / "schedules.jsonl"
    source.write_text(exported.text)
    imported = cli.invoke(main, ["schedules", "import", str(source)])
    assert imported.exit_code == 0, imported.output
    assert "imported 3 schedules" in imported.output
    again = cli.invoke(main, ["schedules", "export"])
    assert again.exit_code == 0, again.output
    assert again.stdout == exported.text


def test_the_cli_refuses_a_bad_file_with_exit_2_naming_each_line(tmp_path: Path) -> None:
    env = settings_env("bk-imp-cli", f"sqlite:///{tmp_path}/cli.db", NO_BROKER)
    cli = CliRunner(env=env)
    assert cli.invoke(main, ["db", "upgrade"]).exit_code == 0
    source = tmp_path / "bad.jsonl"
    source.write_text(lines(schedule("ok"), schedule("tz", timezone="Mars/Base")))
    result = cli.invoke(main, ["schedules", "import", str(source)])
    assert result.exit_code == 2
    assert "error: line 2.timezone:" in result.stderr
    assert cli.invoke(main, ["schedules", "export"]).stdout == ""
