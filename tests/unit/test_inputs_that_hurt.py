"""The inputs the fuzzer and the hand probes of issue 9 turned into 5xx or stored wrongly:
each is now a 4xx naming its field, in the one error shape, and nothing is stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import Enum
from typing import get_args

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import String

from jobs import jsontext
from jobs.factory import create_celery_app, load_registry
from jobs.schedules.definition import ScheduleDefinition, ScheduleError
from jobs.schedules.inputs import ScheduleInput
from jobs.schedules.kinds import TriggerKind
from jobs.schedules.validation import validate
from jobs.services.schedules import ScheduleManager
from jobs.settings import JobsSettings
from jobs.store.tables import schedules
from tests.conftest import settings_env
from tests.support.pages import schedule_form
from tests.unit.test_schedule_ui import csrf, field_errors
from webapp.asgi import create_app
from webapp.settings import WebSettings

CRON = {"job": "runs_report", "trigger": "cron", "cron": "* * * * *"}
DEEP = "[" * 5000 + "]" * 5000


@pytest.fixture
def client(free_sqlite_url: str) -> Iterator[TestClient]:
    env = settings_env("bk-hurt", free_sqlite_url, "amqp://guest:guest@127.0.0.1:1//")
    settings = WebSettings(jobs=JobsSettings.from_env(env))
    celery_app = create_celery_app(settings.jobs, load_registry("jobs.examples"))
    with TestClient(create_app(settings, celery_app), raise_server_exceptions=False) as c:
        yield c


def manager_of(client: TestClient) -> ScheduleManager:
    manager: ScheduleManager = client.app.state.schedules  # type: ignore[attr-defined]
    return manager


def fields_of(response: object) -> list[str]:
    body = response.json()  # type: ignore[attr-defined]
    assert isinstance(body["detail"], str)  # the one shape: a sentence, then the fields
    return [e["field"] for e in body["errors"]]


def post_json(client: TestClient, path: str, text: str) -> object:
    return client.post(path, content=text, headers={"content-type": "application/json"})


def test_a_schedule_page_offset_beyond_64_bits_is_a_4xx_naming_offset(
    client: TestClient,
) -> None:
    api = client.get("/api/schedules?offset=9223372036854775808")
    assert api.status_code == 422
    assert fields_of(api) == ["offset"]
    page = client.get("/schedules?offset=9223372036854775808")
    assert page.status_code == 400
    assert "offset" in page.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"queue": NaN}', "queue"),
        ('{"kwargs": {"hours": Infinity}}', "kwargs.hours"),
        ('{"args": [1, -Infinity]}', "args.1"),
    ],
)
def test_nan_or_infinity_in_a_json_body_is_a_422_naming_its_field(
    client: TestClient, body: str, field: str
) -> None:
    response = post_json(client, "/api/jobs/runs_report/runs", body)
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert fields_of(response) == [field]
    assert manager_of(client).store.runs.list() == []


def test_deeply_nested_kwargs_are_a_422_from_the_api_and_the_form(client: TestClient) -> None:
    raw = json.dumps({"name": "deep", **CRON})[:-1] + f', "kwargs": {{"hours": {DEEP}}}}}'
    assert fields_of(post_json(client, "/api/schedules", raw)) == ["body"]
    as_text = client.post("/api/schedules", json={"name": "deep", **CRON, "kwargs": DEEP})
    assert as_text.status_code == 422
    assert fields_of(as_text) == ["kwargs"]
    page = client.post(
        "/schedules/new", data=schedule_form(csrf=csrf(client), kwargs='{"hours": ' + DEEP + "}")
    )
    assert page.status_code == 422
    assert field_errors(page.text) == ["kwargs"]
    assert manager_of(client).page() == []


def test_a_4301_digit_integer_in_the_schedule_form_is_a_422_naming_each_field(
    client: TestClient,
) -> None:
    huge = "1" * 4301
    data = schedule_form(
        csrf=csrf(client),
        trigger="interval",
        interval_seconds=huge,
        expires_seconds=huge,
        kwargs='{"hours": ' + huge + "}",
    )
    page = client.post("/schedules/new", data=data)
    assert page.status_code == 422
    assert set(field_errors(page.text)) == {"interval_seconds", "expires_seconds", "kwargs"}
    api = post_json(client, "/api/jobs/runs_report/runs", '{"kwargs": {"hours": ' + huge + "}}")
    assert fields_of(api) == ["body"]
    assert manager_of(client).page() == []


@pytest.mark.parametrize("year", ["0001", "0002"])
def test_a_backfill_starting_in_year_1_or_2_is_a_422_naming_start(
    client: TestClient, year: str
) -> None:
    assert client.post("/api/schedules", json={"name": "a", **CRON}).status_code == 201
    response = client.post(
        "/api/schedules/a/backfill",
        json={"start": f"{year}-01-01T00:00:00Z", "end": "2020-01-01T00:00:00Z"},
    )
    assert response.status_code == 422
    assert fields_of(response) == ["start"]


def test_fastapis_own_validation_errors_have_the_documented_error_shape(
    client: TestClient,
) -> None:
    response = client.post("/api/jobs/runs_report/runs", json={"args": "not a list", "x": 1})
    assert response.status_code == 422
    assert set(fields_of(response)) == {"args", "x"}
    missing = client.get("/api/no-such-thing")
    assert missing.status_code == 404
    assert fields_of(missing) == []
    document = client.get("/api/openapi.json").json()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert set(schemas["ErrorOut"]["properties"]) == {"detail", "errors"}
    enqueue = document["paths"]["/api/jobs/{name}/runs"]["post"]["responses"]["422"]
    assert enqueue["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorOut")


def test_a_schedule_name_with_a_trailing_newline_is_refused() -> None:
    registry = load_registry("jobs.examples")
    definition = ScheduleDefinition(
        name="nightly\n", job="runs_report", trigger=TriggerKind.CRON, cron="* * * * *"
    )
    with pytest.raises(ScheduleError) as refused:
        validate(definition, registry, [], datetime(2026, 1, 1, tzinfo=UTC))
    assert [e["field"] for e in refused.value.errors] == ["name"]


def test_a_5007_character_cron_and_a_60000_character_changed_by_are_refused(
    client: TestClient,
) -> None:
    long_cron = client.post(
        "/api/schedules", json={"name": "c", **CRON, "cron": "* * * * *" + " " * 4997 + "*"}
    )
    assert fields_of(long_cron) == ["cron"]
    long_by = client.post("/api/schedules", json={"name": "c", **CRON, "changed_by": "x" * 60000})
    assert fields_of(long_by) == ["changed_by"]
    assert manager_of(client).page() == []
    assert client.post("/api/schedules", json={"name": "c", **CRON}).status_code == 201
    deleted = client.delete("/api/schedules/c", params={"changed_by": "x" * 60000})
    assert fields_of(deleted) == ["changed_by"]
    assert [r.name for r in manager_of(client).page()] == ["c"]


def test_every_text_column_of_a_schedule_is_bounded_in_the_input_model() -> None:
    for name, field in ScheduleInput.model_fields.items():
        column = schedules.c.get(name)
        if column is None or not isinstance(column.type, String) or not column.type.length:
            continue
        if any(isinstance(a, type) and issubclass(a, Enum) for a in get_args(field.annotation)):
            continue  # a choice: bounded by its values
        limits = [m.max_length for m in field.metadata if hasattr(m, "max_length")]
        assert limits and limits[0] <= column.type.length, name


def test_json_text_is_strict_and_bounded() -> None:
    assert jsontext.loads('{"a": [1, {"b": 2}]}') == {"a": [1, {"b": 2}]}
    for text in ("NaN", "[1, Infinity]", "1" * 4301, DEEP, "[" * 33 + "]" * 33, "{nope"):
        with pytest.raises(jsontext.JSONTextError):
            jsontext.loads(text)
