"""Bad input to the dead-letter API, pages and CLI: a clear 4xx or exit code, nothing done.

The broker here cannot be reached: an answer other than 503 / "unreachable" proves the
input was refused before anything was sent.
"""

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

NO_BROKER = "amqp://guest:guest@127.0.0.1:1//"


@pytest.fixture
def client(free_sqlite_url: str) -> Iterator[TestClient]:
    settings = WebSettings(
        jobs=JobsSettings.from_env(settings_env("bk-dlq", free_sqlite_url, NO_BROKER))
    )
    celery_app = create_celery_app(settings.jobs, load_registry("jobs.examples"))
    with TestClient(create_app(settings, celery_app)) as test_client:
        yield test_client


@pytest.fixture
def cli(free_sqlite_url: str) -> CliRunner:
    return CliRunner(env=settings_env("bk-dlq-cli", free_sqlite_url, NO_BROKER))


def test_an_unknown_queue_is_a_404_naming_the_known_ones(client: TestClient) -> None:
    for response in (
        client.get("/api/deadletters/nope"),
        client.get("/api/deadletters/nope/messages/abc"),
        client.post("/api/deadletters/nope/redrive", json={"all": True}),
        client.post("/api/deadletters/nope/purge", json={"confirm": True}),
    ):
        assert response.status_code == 404, response.text
        assert "'nope'" in response.json()["detail"] and "default" in response.json()["detail"]


def test_a_purge_without_confirm_is_a_422_naming_the_confirm_field(client: TestClient) -> None:
    for body in ({}, {"confirm": False}):
        response = client.post("/api/deadletters/default/purge", json=body)
        assert response.status_code == 422
        assert [e["field"] for e in response.json()["errors"]] == ["confirm"]


def test_a_redrive_needs_either_ids_or_all(client: TestClient) -> None:
    bodies: tuple[dict[str, object], ...] = ({}, {"ids": ["a"], "all": True}, {"ids": []})
    for body in bodies:
        response = client.post("/api/deadletters/default/redrive", json=body)
        assert response.status_code == 422, body
        assert [e["field"] for e in response.json()["errors"]] == ["ids"]
    assert client.post("/api/deadletters/default/redrive", json={"what": 1}).status_code == 422


def test_an_unreachable_broker_is_a_503_not_a_500(client: TestClient) -> None:
    response = client.get("/api/deadletters/default")
    assert response.status_code == 503
    assert "unreachable" in response.json()["detail"]
    assert client.get("/api/deadletters").status_code == 503


def test_the_pages_refuse_a_post_without_its_form_token_and_unknown_queues(
    client: TestClient,
) -> None:
    assert client.post("/deadletters/default/purge", data={"confirm": "yes"}).status_code == 400
    assert client.post("/deadletters/default/redrive", data={"all": "yes"}).status_code == 400
    assert client.get("/deadletters/nope").status_code == 404
    assert client.get("/deadletters/nope/purge").status_code == 404


def test_the_cli_exits_2_for_a_bad_selection_and_1_for_an_unknown_queue(cli: CliRunner) -> None:
    no_ids = cli.invoke(main, ["dlq", "redrive", "default"])
    assert no_ids.exit_code == 2 and "ids" in no_ids.stderr
    both = cli.invoke(main, ["dlq", "redrive", "default", "x", "--all"])
    assert both.exit_code == 2
    unknown = cli.invoke(main, ["dlq", "purge", "nope", "--yes"])
    assert unknown.exit_code == 1 and "'nope'" in unknown.stderr
    down = cli.invoke(main, ["dlq", "list", "default"])
    assert down.exit_code == 1 and "unreachable" in down.stderr
