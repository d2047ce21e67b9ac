"""The same schedule input through the API, the form and the command line has the same
outcome: the same stored definition, or the same fields refused (nothing stored)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from jobs.factory import create_celery_app, load_registry
from jobs.schedules.definition import ScheduleDefinition
from jobs.services.schedules import ScheduleManager
from jobs.settings import JobsSettings
from tests.conftest import settings_env
from tests.support.pages import SUMMARY_ITEM
from webapp.asgi import create_app
from webapp.cli import main
from webapp.settings import WebSettings
from webapp.ui.schedule_form import NEW_FORM, form_of

# A case: the fields a person types, as text (what a form or a command line carries).
Case = dict[str, str]
Outcome = ScheduleDefinition | frozenset[str]


@pytest.fixture
def world(free_sqlite_url: str) -> Iterator[tuple[TestClient, CliRunner, ScheduleManager]]:
    env = settings_env("bk-inputs", free_sqlite_url, "amqp://guest:guest@127.0.0.1:1//")
    settings = WebSettings(jobs=JobsSettings.from_env(env))
    celery_app = create_celery_app(settings.jobs, load_registry("jobs.examples"))
    with TestClient(create_app(settings, celery_app)) as client:
        yield client, CliRunner(env=env), client.app.state.schedules  # type: ignore[attr-defined]


def json_value(text: str) -> Any:
    """What a JSON client would send for what a person typed: numbers and objects as such."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def stored(manager: ScheduleManager, name: str) -> ScheduleDefinition:
    return replace(manager.get(name).definition(), name="-")


def refused_fields(lines: list[str]) -> frozenset[str]:
    return frozenset(lines)


# -- the three front ends -------------------------------------------------------------------
def by_api(world: Any, name: str, case: Case, edit: bool) -> Outcome:
    client, _, manager = world
    body = {
        k: json_value(v) if k in ("kwargs", "interval_seconds", "jitter_seconds") else v
        for k, v in case.items()
    }
    if edit:
        response = client.patch(f"/api/schedules/{name}", json=body)
    else:
        response = client.post("/api/schedules", json={"name": name, **body})
    if response.status_code in (200, 201):
        return stored(manager, name)
    assert response.status_code == 422, response.text
    return frozenset(e["field"] for e in response.json()["errors"])


def by_form(world: Any, name: str, case: Case, edit: bool) -> Outcome:
    client, _, manager = world
    path = f"/schedules/{name}/edit" if edit else "/schedules/new"
    token = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert token is not None
    base = form_of(manager.get(name)) if edit else {**NEW_FORM, "name": name}
    data = {**base, **case, "csrf": token.group(1)}
    response = client.post(path, data=data, follow_redirects=False)
    if response.status_code == 302:
        return stored(manager, name)
    assert response.status_code == 422, response.text
    return frozenset(re.findall(SUMMARY_ITEM, response.text))


OPTION = {
    "job": "--job",
    "cron": "--cron",
    "interval_seconds": "--every",
    "run_at": "--at",
    "timezone": "--timezone",
    "kwargs": "--kwargs",
    "jitter_seconds": "--jitter",
}


def by_cli(world: Any, name: str, case: Case, edit: bool) -> Outcome:
    _, cli, manager = world
    # The command line names the trigger by its option (--cron, --every, --at).
    options = [part for k, v in case.items() if k != "trigger" for part in (OPTION[k], v)]
    result = cli.invoke(main, ["schedules", "edit" if edit else "create", name, *options])
    if result.exit_code == 0:
        return stored(manager, name)
    assert result.exit_code == 2, result.output
    return frozenset(re.findall(r"^error: ([^:]+):", result.stderr, re.MULTILINE))


FRONT_ENDS: dict[str, Callable[[Any, str, Case, bool], Outcome]] = {
    "api": by_api,
    "form": by_form,
    "cli": by_cli,
}

# -- the cases --------------------------------------------------------------------------------
PARIS_CRON: dict[str, Any] = {"job": "runs_report", "trigger": "cron", "cron": "0 9 * * *"}
NEW_YORK_ONCE = {"job": "runs_report", "trigger": "once", "timezone": "America/New_York"}
NEW = {
    "a cron in its zone with arguments and jitter": (
        {
            **PARIS_CRON,
            "timezone": "Europe/Paris",
            "kwargs": '{"hours": 2}',
            "jitter_seconds": "30",
        },
        None,
    ),
    "a one-off time without an offset is wall time in its zone": (
        {**NEW_YORK_ONCE, "run_at": "2031-06-02T09:00:00"},
        datetime(2031, 6, 2, 13, 0, tzinfo=UTC),
    ),
    "a wall time that occurs twice is the first of the two": (
        {**NEW_YORK_ONCE, "run_at": "2031-11-02T01:30:00"},
        datetime(2031, 11, 2, 5, 30, tzinfo=UTC),
    ),
    "a wall time the clocks skip is refused": (
        {**NEW_YORK_ONCE, "run_at": "2031-03-09T02:30:00"},
        {"run_at"},
    ),
    "an unknown zone does not hide the other errors": (
        {**PARIS_CRON, "cron": "61 * * * *", "timezone": "Mars/Base", "kwargs": '{"hours": 0}'},
        {"timezone", "cron", "kwargs.hours"},
    ),
    "arguments that are not JSON are refused by name": (
        {"job": "runs_report", "trigger": "interval", "interval_seconds": "60", "kwargs": "{no"},
        {"kwargs"},
    ),
    "an interval that is not a number is refused by name": (
        {"job": "runs_report", "trigger": "interval", "interval_seconds": "ten"},
        {"interval_seconds"},
    ),
    "jitter as long as the interval is refused": (
        {
            "job": "runs_report",
            "trigger": "interval",
            "interval_seconds": "60",
            "jitter_seconds": "60",
        },
        {"jitter_seconds"},
    ),
    "a schedule without a job is refused": (
        {"trigger": "cron", "cron": "0 9 * * *"},
        {"job"},
    ),
}
EDITS = {
    "a new one-off time without an offset is wall time in the schedule's zone": (
        {"trigger": "once", "run_at": "2031-06-02T09:00:00"},
        datetime(2031, 6, 2, 7, 0, tzinfo=UTC),
    ),
    "a new one-off time the clocks skip in the schedule's zone is refused": (
        {"trigger": "once", "run_at": "2031-03-30T02:30:00"},
        {"run_at"},
    ),
    "an unknown zone in an edit does not hide a bad cron": (
        {"trigger": "cron", "cron": "0 25 * * *", "timezone": "Nowhere/X"},
        {"timezone", "cron"},
    ),
}


def check(outcomes: dict[str, Outcome], expected: Any) -> None:
    api = outcomes["api"]
    assert outcomes == {fe: api for fe in FRONT_ENDS}, "every front end has the same outcome"
    if isinstance(expected, set):
        assert api == frozenset(expected)
    else:
        assert isinstance(api, ScheduleDefinition)
        if isinstance(expected, datetime):
            assert api.run_at == expected


@pytest.mark.parametrize("case", list(NEW))
def test_a_new_schedule_has_the_same_outcome_from_the_api_the_form_and_the_cli(
    world: Any, case: str
) -> None:
    fields, expected = NEW[case]
    outcomes = {fe: create(world, f"new-{fe}", fields, False) for fe, create in FRONT_ENDS.items()}
    check(outcomes, expected)
    if isinstance(expected, set):
        assert world[2].page() == [], "nothing is stored"


@pytest.mark.parametrize("case", list(EDITS))
def test_an_edit_has_the_same_outcome_from_the_api_the_form_and_the_cli(
    world: Any, case: str
) -> None:
    fields, expected = EDITS[case]
    manager: ScheduleManager = world[2]
    for fe in FRONT_ENDS:
        base = ScheduleDefinition(name=f"edit-{fe}", timezone="Europe/Paris", **PARIS_CRON)
        manager.create(base, "test")
    outcomes = {fe: edit(world, f"edit-{fe}", fields, True) for fe, edit in FRONT_ENDS.items()}
    check(outcomes, expected)
    if isinstance(expected, set):
        assert {r.cron for r in manager.page()} == {"0 9 * * *"}, "nothing is changed"


def test_the_input_model_the_api_output_and_the_form_cover_every_schedule_field() -> None:
    from dataclasses import fields

    from jobs.schedules.inputs import CHANGE_NOTE, ScheduleInput
    from webapp.api.schedule_schemas import ScheduleOut
    from webapp.ui.schedule_form import ON_FORM

    definition = {f.name for f in fields(ScheduleDefinition)}
    assert set(ScheduleInput.model_fields) == definition | set(CHANGE_NOTE)
    assert definition <= set(ScheduleOut.model_fields)
    # Not on the form: arguments by position, priority, and enabled (pause and resume).
    assert definition - set(ON_FORM) == {"args", "priority", "enabled"}
