"""/api/docs needs nothing from the internet: every asset it names is served here."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from jobs.factory import create_celery_app, load_registry
from jobs.settings import JobsSettings
from tests.conftest import settings_env
from webapp.asgi import create_app
from webapp.settings import WebSettings


@pytest.fixture
def client(free_sqlite_url: str) -> Iterator[TestClient]:
    env = settings_env("bk-unit", free_sqlite_url, "amqp://guest:guest@127.0.0.1:1//")
    settings = WebSettings(jobs=JobsSettings.from_env(env))
    celery_app = create_celery_app(settings.jobs, load_registry("jobs.examples"))
    with TestClient(create_app(settings, celery_app)) as client:
        yield client


def test_the_api_docs_page_loads_every_asset_from_this_application(client: TestClient) -> None:
    page = client.get("/api/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url: ["']([^"']+)["']""", page.text)
    assets = [u for pair in urls for u in pair if u]
    assert assets, "the page names its assets"
    for url in assets:
        assert url.startswith("/"), f"{url} is not served by this application"
        assert client.get(url).status_code == 200, url
    assert "swagger-ui-bundle.js" in page.text
