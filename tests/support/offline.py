"""The whole web application on an SQLite store with no broker behind it (enqueues answer
503): for tests of pages and API reads."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from jobs.factory import create_celery_app, load_registry
from jobs.settings import JobsSettings
from jobs.store.runs import RunStore
from tests.conftest import settings_env
from webapp.asgi import create_app
from webapp.settings import WebSettings

NO_BROKER = "amqp://guest:guest@127.0.0.1:1//"


@contextmanager
def offline_web(database_url: str, prefix: str) -> Iterator[tuple[TestClient, RunStore]]:
    """A test client of the app with the example jobs, and its run store."""
    settings = WebSettings(
        jobs=JobsSettings.from_env(settings_env(prefix, database_url, NO_BROKER))
    )
    celery_app = create_celery_app(settings.jobs, load_registry("jobs.examples"))
    with TestClient(create_app(settings, celery_app)) as client:
        yield client, celery_app.store
