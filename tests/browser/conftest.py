"""A real stack (uvicorn, one worker and a beat on the shared RabbitMQ) and Debian's chromium
driven by Playwright. Playwright's own browser download does not work here, so the browser is
/usr/bin/chromium (CI installs it through .ci/services.sh). One stack per module keeps the
suite fast. Sign-in is on (BEATKEEPER_AUTH=true) with one admin user; every page but the
sign-in test's starts signed in (the session of one sign-in per module). When a test fails,
every page it opened is saved as a screenshot in var/browser-failures/<test>/ with the
stack's logs (BEATKEEPER_TEST_SCREENSHOTS moves it)."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import unavailable
from tests.support.processes import ROOT
from tests.support.stack import accounts, running_stack, stack_env

CHROMIUM = os.environ.get("BEATKEEPER_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(os.environ.get("BEATKEEPER_TEST_SCREENSHOTS", ROOT / "var" / "browser-failures"))
USER, PASSWORD = "browser", "correct horse battery staple"
FAILED = pytest.StashKey[bool]()
UNSAFE = re.compile(r"[^\w.-]+")  # what may not appear in a screenshot's file name
OpenPage = Callable[..., Any]


@dataclass(frozen=True)
class Stack:
    url: str
    logs: Path  # web.log, worker.log, beat.log


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome: Any = yield
    report = outcome.get_result()
    if report.when == "call":
        item.stash[FAILED] = report.failed


@pytest.fixture(scope="module")
def stack(
    rabbitmq_url: str, session_id: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The web application, a worker and a beat as real processes."""
    tmp = tmp_path_factory.mktemp("browser")
    env = stack_env(f"bk-browser-{session_id}-{tmp.name[-4:]}", tmp)
    with accounts(env) as users:
        users.add_user(USER, "admin", PASSWORD, by="test")
    with running_stack(rabbitmq_url, env, f"browser-{session_id}", tmp) as base:
        yield Stack(base, tmp)


@pytest.fixture(scope="module")  # Playwright's sync API holds an event loop until it stops
def browser() -> Iterator[Any]:
    if not (shutil.which(CHROMIUM) or Path(CHROMIUM).exists()):
        unavailable(f"no chromium at {CHROMIUM}: sudo apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


def sign_in(page: Any, user: str = USER, password: str = PASSWORD) -> None:
    """Through the sign-in form, as a person does."""
    page.get_by_label("name").fill(user)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture(scope="module")
def signed_in(browser: Any, stack: Stack) -> dict[str, Any]:
    """The cookies of one sign-in, for every page of the module (Playwright storage state)."""
    context = browser.new_context(base_url=stack.url)
    page = context.new_page()
    page.goto("/login")
    sign_in(page)
    page.wait_for_url(lambda url: "/login" not in url)
    state: dict[str, Any] = context.storage_state()
    context.close()
    return state


@pytest.fixture
def open_page(
    browser: Any, stack: Stack, signed_in: dict[str, Any], request: pytest.FixtureRequest
) -> Iterator[OpenPage]:
    """``open_page(**context_options)``: a fresh page, signed in (``signed_in_already=False``: not),
    with other options for Playwright's context (e.g. ``viewport=...``,
    ``color_scheme="dark"``); every request to another host is refused and recorded in
    ``page.outside_requests``; an error in the browser's console (a script error, a
    Content-Security-Policy refusal) fails the test. On failure each page opened is saved as
    a screenshot, beside the stack's logs."""
    contexts: list[Any] = []
    script_errors: list[str] = []  # uncaught exceptions, CSP refusals, failed loads

    def console_error(page: Any, message: Any) -> None:
        # A form shown again with its errors answers 4xx on purpose; Chrome logs that too.
        if message.type == "error" and "responded with a status of 4" not in message.text:
            script_errors.append(f"{page.url}: {message.text}")

    def open_one(signed_in_already: bool = True, **options: Any) -> Any:
        state = signed_in if signed_in_already else None
        context = browser.new_context(base_url=stack.url, storage_state=state, **options)
        contexts.append(context)
        page = context.new_page()
        outside: list[str] = []

        def only_local(route: Any) -> None:
            if route.request.url.startswith(stack.url):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_local)
        page.outside_requests = outside
        page.on("pageerror", lambda exc: script_errors.append(f"{page.url}: {exc}"))
        page.on("console", lambda m: console_error(page, m))
        return page

    yield open_one
    if request.node.stash.get(FAILED, False):
        folder = SCREENSHOTS / UNSAFE.sub("_", request.node.nodeid)
        folder.mkdir(parents=True, exist_ok=True)
        for log in stack.logs.glob("*.log"):
            shutil.copy(log, folder / log.name)
        pages = [page for context in contexts for page in context.pages]
        for number, page in enumerate(pages, 1):
            path = folder / f"{number}-{UNSAFE.sub('_', page.url)[-80:]}.png"
            try:
                page.screenshot(path=str(path), full_page=True)
                print(f"screenshot of {page.url}: {path}")
            except Exception as exc:  # noqa: BLE001 - the test's own failure is what matters
                print(f"no screenshot of {page.url}: {exc}")
    for context in contexts:
        context.close()
    assert script_errors == [], "the pages logged errors in the browser's console"


@pytest.fixture
def page(open_page: OpenPage) -> Any:
    """A fresh page at the default desktop size."""
    return open_page()
