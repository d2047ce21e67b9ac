"""A real stack (uvicorn + one worker on the shared RabbitMQ) and Debian's chromium driven by
Playwright. Playwright's own browser download does not work here, so the browser is
/usr/bin/chromium (CI installs it through .ci/services.sh). A failing test leaves a
screenshot of its page in the test's temporary folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection

from broker import declare
from broker.topology import describe
from jobs.settings import JobsSettings
from tests.conftest import settings_env, unavailable
from tests.support.processes import free_port, running, wait_http
from tests.support.waiting import wait_for

CHROMIUM = os.environ.get("BEATKEEPER_TEST_CHROMIUM", "/usr/bin/chromium")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome: Any = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[FAILED] = report.failed


FAILED = pytest.StashKey[bool]()


@pytest.fixture(scope="module")
def stack(
    rabbitmq_url: str, session_id: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The web application and a worker as real processes; yields the base URL."""
    tmp = tmp_path_factory.mktemp("browser")
    database_url = f"sqlite:///{tmp / 'browser.db'}"
    env = settings_env(f"bk-browser-{session_id}", database_url)
    env["BEATKEEPER_BROKER_HEARTBEAT"] = "30"
    topology = describe(JobsSettings.from_env(env).broker)
    from jobs.store.migrate import upgrade

    upgrade(database_url)
    with Connection(rabbitmq_url) as conn:
        declare.declare(conn, topology)
    port = free_port()
    worker = ["-m", "celery", "-A", "jobs", "worker", "-c", "1", "-l", "INFO"]
    worker += ["-n", f"browser-{session_id}@%h"]
    web = ["-m", "uvicorn", "--factory", "webapp.asgi:create_app", "--port", str(port)]
    try:
        with running("worker", worker, env, tmp), running("web", web, env, tmp):
            base = f"http://127.0.0.1:{port}"
            wait_http(f"{base}/api/jobs", lambda r: r.status_code == 200, 30)
            wait_for(lambda: b" ready." in (tmp / "worker.log").read_bytes(), 60)
            yield base
    finally:
        with Connection(rabbitmq_url) as conn:
            declare.delete(conn, topology)


@pytest.fixture(scope="module")  # Playwright's sync API holds an event loop until it stops
def browser() -> Iterator[Any]:
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        unavailable(f"no chromium at {CHROMIUM}: sudo apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, stack: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh page; every request to another host is refused and recorded."""
    context = browser.new_context(base_url=stack)
    page = context.new_page()
    outside: list[str] = []

    def only_local(route: Any) -> None:
        if route.request.url.startswith(stack):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_local)
    page.outside_requests = outside
    yield page
    if request.node.stash.get(FAILED, False):
        page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        print(f"screenshot: {tmp_path / 'failure.png'}")
    context.close()
