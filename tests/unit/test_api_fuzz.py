"""schemathesis over the OpenAPI document, in process, with an admin token: 0 server errors,
0 schema violations.

Two runs, each bounded so that the module takes well under a minute on the 2-core machine:
- every operation alone, a fixed number of examples each, with the broker unreachable on
  purpose (an enqueue is then a 503, which the document declares, and nothing is sent);
- a stateful run that follows the document's OpenAPI links (``webapp/api/links.py``) from
  creating a schedule to reading, editing, pausing, running and deleting it, and from an
  enqueue to reading the run, against the real RabbitMQ (its own prefix, deleted after).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from kombu import Connection
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from sqlalchemy import Engine

from broker import declare
from broker.topology import describe
from jobs.factory import create_celery_app, load_registry
from jobs.settings import JobsSettings
from jobs.store import tables
from jobs.store.migrate import upgrade
from tests.conftest import settings_env
from webapp.api.links import LINKS, Link
from webapp.asgi import create_app
from webapp.auth.accounts import Accounts
from webapp.auth.permissions import Scope
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
# The stateful run: scenarios of up to STEPS linked calls. With the broker present nothing
# may answer 503 either.
SCENARIOS, STEPS = 80, 10
STATEFUL_SETTINGS = settings(
    SETTINGS, max_examples=SCENARIOS, stateful_step_count=STEPS, phases=[Phase.generate]
)
LINKED = sorted({op for link in LINKS for op in (link.source, link.target)})
# Schedules the create step may send instead of the generated body: random text is never a
# registered job nor a valid trigger, and a schedule that is never created links to nothing.
JOBS_WITHOUT_REQUIRED_ARGUMENTS = ("runs_report", "cleanup_runs")
# Arguments each example job accepts, for enqueues that are sent.
VALID_KWARGS: dict[str, dict[str, Any]] = {
    "check_url": {"url": "https://example.org/"},
    "runs_report": {"hours": 2},
    "cleanup_runs": {},
}
CRONS = ("*/5 * * * *", "0 9 * * 1-5", "30 2 * * *", "0 0 29 2 *", "0 12 L * *")
TIMEZONES = ("UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata")
MOMENTS = ("2031-03-30T02:30:00", "2031-03-30T01:30:00+00:00", "2000-01-01T00:00:00Z")
SCENARIO_TABLES = {
    tables.runs,
    tables.run_attempts,
    tables.schedules,
    tables.schedule_health,
    tables.audit_log,
}


@dataclass(frozen=True)
class FuzzedApp:
    app: FastAPI
    settings: WebSettings
    engine: Engine
    headers: dict[str, str]  # an admin token, and the Host the app answers to

    def forget_schedules_and_runs(self) -> None:
        """Each scenario starts from the same store, so that Hypothesis can replay one."""
        with self.engine.begin() as conn:
            for table in reversed(tables.metadata.sorted_tables):
                if table in SCENARIO_TABLES:
                    conn.execute(table.delete())


@contextmanager
def fuzzed_app(directory: Path, prefix: str, broker_url: str, **env: str) -> Iterator[FuzzedApp]:
    """The real app with auth on, its own SQLite store and an admin token; lifespan running."""
    url = f"sqlite:///{directory / 'fuzz.db'}"
    upgrade(url)
    web = WebSettings(
        jobs=JobsSettings.from_env({**settings_env(prefix, url, broker_url), **env}),
        auth=True,
        rate_limit_enqueue="off",
        rate_limit_schedules="off",
    )
    celery_app = create_celery_app(web.jobs, load_registry("jobs.examples"))
    application = create_app(web, celery_app)
    token = Accounts(celery_app.store.engine).create_token("fuzz", [Scope.ADMIN], "fuzz")
    headers = {"Authorization": f"Bearer {token.secret}", "host": "testserver"}
    with TestClient(application):  # the lifespan: the enqueuer's thread
        yield FuzzedApp(application, web, celery_app.store.engine, headers)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzedApp]:
    with fuzzed_app(
        tmp_path_factory.mktemp("fuzz"),
        "bk-fuzz",
        "amqp://guest:guest@127.0.0.1:1//",
        BEATKEEPER_PUBLISH_MAX_RETRIES="0",
        BEATKEEPER_BROKER_CONNECT_TIMEOUT="0.1",  # a refused enqueue answers 503 at once
    ) as found:
        yield found


@pytest.fixture(scope="module")
def live_app(
    tmp_path_factory: pytest.TempPathFactory, rabbitmq_url: str, session_id: str
) -> Iterator[FuzzedApp]:
    """The app on the real broker, with its own exchanges and queues, deleted after."""
    prefix = f"bk-fuzz-{session_id}"
    with fuzzed_app(tmp_path_factory.mktemp("fuzz-live"), prefix, rabbitmq_url) as found:
        topology = describe(found.settings.jobs.broker)
        with Connection(rabbitmq_url) as conn:
            declare.declare(conn, topology)
        try:
            yield found
        finally:
            with Connection(rabbitmq_url) as conn:
                declare.delete(conn, topology)


def load(found: FuzzedApp, config: Any = None) -> Any:
    return schemathesis.openapi.from_asgi(
        "/api/openapi.json", found.app, config=config, headers=found.headers
    )


@pytest.fixture(scope="module")
def api_schema(app: FuzzedApp) -> Any:
    return load(app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@SETTINGS
def test_no_operation_answers_a_5xx_or_outside_its_documented_schema(
    case: Any, app: FuzzedApp
) -> None:
    if case.path.startswith(NOT_FUZZED):
        pytest.skip("waits on the absent broker or streams; its inputs have their own tests")
    response = case.call(headers=app.headers)
    assert response.status_code < 500 or response.status_code == 503, response.text
    case.validate_response(response, checks=CHECKS)


TRIGGERS = st.one_of(
    st.fixed_dictionaries(
        {"trigger": st.just("interval"), "interval_seconds": st.integers(1, 10**6)},
        optional={"anchor": st.sampled_from(MOMENTS)},
    ),
    st.fixed_dictionaries({"trigger": st.just("cron"), "cron": st.sampled_from(CRONS)}),
    st.fixed_dictionaries({"trigger": st.just("once"), "run_at": st.sampled_from(MOMENTS)}),
).map(lambda t: {"cron": None, "interval_seconds": None, "run_at": None, "anchor": None, **t})
CHANGES = st.fixed_dictionaries(
    {},
    optional={
        "timezone": st.sampled_from(TIMEZONES),
        "enabled": st.booleans(),
        "priority": st.integers(0, 9),
        "expires_seconds": st.integers(1, 86_400),
        "jitter_seconds": st.integers(0, 3_600),
        "catch_up": st.sampled_from(["skip", "latest", "all"]),
        "catch_up_window_seconds": st.integers(0, 86_400),
        "overlap": st.sampled_from(["allow", "skip", "buffer_one"]),
        "grace_seconds": st.integers(1, 86_400),
        "changed_by": st.text(max_size=20),
        "reason": st.text(max_size=20),
    },
)
SCHEDULES = st.builds(
    lambda trigger, changes, name, job: {**changes, **trigger, "name": name, "job": job},
    TRIGGERS,
    CHANGES,
    st.from_regex(r"[a-z][a-z0-9-]{0,30}", fullmatch=True),
    st.sampled_from(JOBS_WITHOUT_REQUIRED_ARGUMENTS),
)
EDITS = st.one_of(CHANGES, st.builds(lambda t, c: {**c, **t}, TRIGGERS, CHANGES))


def window(ago: int, length: int) -> dict[str, str]:
    end = datetime.now(UTC) - timedelta(seconds=ago)
    return {"start": (end - timedelta(seconds=length)).isoformat(), "end": end.isoformat()}


# A window in the last days: past (a backfill refuses the future) and short enough that a
# created schedule's fires in it are rarely more than the 1000 a backfill sends.
BACKFILLS = st.builds(window, st.integers(1, 86_400), st.integers(0, 7 * 86_400))


def often(valid: st.SearchStrategy[Any], generated: Any) -> st.SearchStrategy[Any]:
    """Three times in four ``valid``, else what schemathesis generated."""
    return st.integers(0, 3).flatmap(lambda n: valid if n else st.just(generated))


def stateful_schema(found: FuzzedApp) -> Any:
    """The linked operations only (links as the document states them, none inferred), with
    creates, edits and enqueues that often succeed: random text is rarely a registered job,
    a valid trigger or a job's arguments, and a schedule never created links to nothing."""
    only_our_links = SchemathesisConfig.from_dict(
        {"phases": {"stateful": {"inference": {"algorithms": []}}}}
    )
    linked = load(found, only_our_links).include(
        lambda ctx: f"{ctx.operation.method.upper()} {ctx.operation.path}" in LINKED
    )

    hook = linked.hook

    def new_schedules(_: Any, body: Any) -> st.SearchStrategy[Any]:
        return often(SCHEDULES, body)

    def edits(_: Any, body: Any) -> st.SearchStrategy[Any]:
        return often(EDITS, body)

    def backfills(_: Any, body: Any) -> st.SearchStrategy[Any]:
        return often(BACKFILLS, body)

    def enqueues(_: Any, case: Any) -> st.SearchStrategy[Any]:
        job = (case.path_parameters or {}).get("name")
        if job not in VALID_KWARGS:
            return st.just(case)
        return often(st.just({"kwargs": VALID_KWARGS[job]}), case.body).map(
            lambda body: replace_body(case, body)
        )

    hook("flatmap_body").apply_to(method="POST", path="/api/schedules")(new_schedules)
    hook("flatmap_body").apply_to(method="PATCH", path="/api/schedules/{name}")(edits)
    hook("flatmap_body").apply_to(method="POST", path="/api/schedules/{name}/backfill")(backfills)
    hook("flatmap_case").apply_to(method="POST", path="/api/jobs/{name}/runs")(enqueues)
    return linked


def replace_body(case: Any, body: Any) -> Any:
    case.body = body
    return case


def test_linked_operations_answer_within_their_documented_schema(live_app: FuzzedApp) -> None:
    """Follow the links with real data; count the calls a link gave a value, so that a run
    whose links lead nowhere fails instead of passing on random names."""
    document = TestClient(live_app.app).get("/api/openapi.json", headers=live_app.headers).json()
    assert all(link.name in links_in(document, link) for link in LINKS)
    linked: Counter[tuple[str, int]] = Counter()
    refused: dict[str, str] = {}  # the first 4xx answer per operation, for a failure's message
    base = stateful_schema(live_app).as_state_machine()

    class Linked(base):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            live_app.forget_schedules_and_runs()

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": live_app.headers}

        def step(self, input: Any) -> Any:
            output = super().step(input)
            if input.transition is not None and input.is_applied:
                operation = f"{input.case.method} {input.case.path}"
                linked[(operation, output.response.status_code)] += 1
                if 400 <= output.response.status_code < 500:
                    sent = f"{input.case.path_parameters} {input.case.body!r}"[:300]
                    refused.setdefault(operation, f"{sent} -> {output.response.text[:300]}")
            return output

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            checks = [not_a_server_error, *CHECKS]
            case.validate_response(response, checks=checks, recorder=self.recorder)

    reads = [("GET /api/schedules/{name}", 200), ("GET /api/runs/{run_id}", 200)]
    # Every scenario of every round is checked. Whether a round's random walk happens to reach
    # a linked read depends on its seed (a CI run once never enqueued in 22 tries, and a
    # change to this function's source, which derives the seed, made it pass): up to two more
    # rounds with fresh seeds, so only links that lead nowhere fail the test.
    for round_settings in (
        STATEFUL_SETTINGS,
        *[settings(STATEFUL_SETTINGS, derandomize=False)] * 2,
    ):
        Linked.run(settings=round_settings)
        if all(linked[read] >= 1 for read in reads):
            break
    for read in reads:
        assert linked[read] >= 1, (read, linked, refused)


def links_in(document: dict[str, Any], link: Link) -> dict[str, Any]:
    """The links the document gives ``link``'s source answer."""
    method, path = link.source.split(" ", 1)
    answer: dict[str, Any] = document["paths"][path][method.lower()]["responses"][link.status]
    links: dict[str, Any] = answer.get("links", {})
    return links
