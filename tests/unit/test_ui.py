"""The Flask pages, through the same ASGI app as in production."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from jobs.factory import create_celery_app, load_registry
from jobs.settings import FlowerSettings, JobsSettings
from tests.conftest import settings_env
from tests.support.pages import invalid_boxes
from webapp.asgi import create_app
from webapp.settings import WebSettings


@pytest.fixture
def client(free_sqlite_url: str) -> Iterator[TestClient]:
    env = settings_env("bk-ui", free_sqlite_url, "amqp://guest:guest@127.0.0.1:1//")
    jobs = JobsSettings.from_env(env)
    settings = WebSettings(
        jobs=jobs.model_copy(
            update={"flower": FlowerSettings(public_url="http://flower.example:5555")}
        ),
        console_url="http://rabbit.example:15672/",
    )
    celery_app = create_celery_app(settings.jobs, load_registry("jobs.examples"))
    with TestClient(create_app(settings, celery_app)) as test_client:
        test_client.store = celery_app.store  # type: ignore[attr-defined]  # set by the fixture
        yield test_client


def csrf(client: TestClient, path: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
    assert match, "the form carries a CSRF token"
    return match.group(1)


def test_the_jobs_page_lists_jobs_with_policies_and_links_to_flower_and_rabbitmq(
    client: TestClient,
) -> None:
    page = client.get("/")
    assert page.status_code == 200
    for name in ("check_url", "runs_report", "cleanup_runs"):
        assert f'href="/jobs/{name}"' in page.text
    assert 'href="http://flower.example:5555"' in page.text
    assert 'href="http://rabbit.example:15672/"' in page.text
    assert "discard" in page.text or "dead letter" in page.text


def test_the_enqueue_form_shows_the_effective_policy_and_one_field_per_parameter(
    client: TestClient,
) -> None:
    page = client.get("/jobs/check_url")
    assert page.status_code == 200
    for field in ("arg-url", "arg-timeout", "arg-expect_status"):
        assert f'name="{field}"' in page.text
    assert "Max retries" in page.text


def test_a_form_with_bad_input_is_shown_again_with_the_field_named_and_nothing_stored(
    client: TestClient,
) -> None:
    token = csrf(client, "/jobs/check_url")
    page = client.post(
        "/jobs/check_url", data={"csrf": token, "arg-url": "nope", "arg-timeout": "-3"}
    )
    assert page.status_code == 422
    assert "<code>url</code>" in page.text and "<code>timeout</code>" in page.text
    assert client.store.list() == []  # type: ignore[attr-defined]  # set by the fixture


def test_a_form_post_without_its_csrf_token_is_refused(client: TestClient) -> None:
    page = client.post("/jobs/runs_report", data={"arg-hours": "2"})
    assert page.status_code == 400
    assert client.store.list() == []  # type: ignore[attr-defined]  # set by the fixture


def test_unknown_pages_are_404(client: TestClient) -> None:
    assert client.get("/jobs/nope").status_code == 404
    assert client.get("/runs/nope").status_code == 404
    assert client.get("/runs?state=DONE").status_code == 422


def test_an_enqueue_error_is_shown_beside_its_field_and_the_chosen_queue_is_kept(
    client: TestClient,
) -> None:
    token = csrf(client, "/jobs/runs_report")
    page = client.post("/jobs/runs_report", data={"csrf": token, "arg-hours": "0", "queue": "slow"})
    assert page.status_code == 422
    assert set(invalid_boxes(page.text)) == {"hours"}
    assert "greater than or equal to 1" in invalid_boxes(page.text)["hours"]
    assert 'name="arg-hours" value="0"' in page.text
    assert '<option value="slow" selected>' in page.text
    assert '<a href="#f-hours"><code>hours</code></a>' in page.text  # the summary links to it


def test_pages_carry_no_inline_script_or_event_handler_so_a_strict_csp_allows_them(
    client: TestClient,
) -> None:
    for path in ("/", "/jobs/check_url", "/runs", "/schedules", "/schedules/new"):
        page = client.get(path).text
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), path
        assert not re.search(r"\son[a-z]+=", page), path
        assert not re.search(r'(?:src|href)="(?:https?:)?//(?!flower\.|rabbit\.)', page), path
