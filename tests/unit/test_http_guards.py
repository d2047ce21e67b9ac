"""Hosts, body sizes and security headers, checked before the application sees a request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from jobs.factory import create_celery_app, load_registry
from jobs.settings import JobsSettings
from tests.conftest import settings_env
from tests.support.pages import schedule_form
from tests.unit.test_schedule_ui import csrf
from webapp.asgi import create_app
from webapp.settings import WebSettings

MiB = 1024 * 1024
TEMPLATES = Path(__file__).parents[2] / "webapp" / "ui" / "templates"


def build(database_url: str, **web: Any) -> FastAPI:
    env = settings_env("bk-guards", database_url, "amqp://guest:guest@127.0.0.1:1//")
    settings = WebSettings(jobs=JobsSettings.from_env(env), **web)
    return create_app(settings, create_celery_app(settings.jobs, load_registry("jobs.examples")))


@pytest.fixture
def client(free_sqlite_url: str) -> Iterator[TestClient]:
    app = build(free_sqlite_url, max_body_bytes=64 * 1024, public_url="https://jobs.example")
    with TestClient(app, base_url="https://jobs.example") as c:
        yield c


def streamed(app: FastAPI, path: str, total: int, chunk: int = MiB) -> tuple[int, int, bytes]:
    """POST ``total`` bytes to ``path`` as a chunked stream, straight into the ASGI app;
    (status, chunks the app pulled, body). Chunks are made on demand: nothing is buffered."""
    pulled = 0
    answer: dict[str, Any] = {"body": b""}
    payload = b"x" * chunk

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled * chunk >= total:
            return {"type": "http.disconnect"}
        pulled += 1
        return {"type": "http.request", "body": payload, "more_body": pulled * chunk < total}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"content-type", b"application/x-www-form-urlencoded"),
            (b"transfer-encoding", b"chunked"),
        ],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return answer["status"], pulled, answer["body"]


@pytest.mark.parametrize("path", ["/api/schedules/import", "/api/jobs/runs_report/runs"])
def test_a_300_mb_streamed_body_is_a_413_after_reading_only_the_limit(
    free_sqlite_url: str, path: str
) -> None:
    app = build(free_sqlite_url)  # the default limit: 8 MiB
    status, pulled, body = streamed(app, path, total=300 * MiB)
    assert status == 413
    assert pulled <= 9, f"read {pulled} MiB of the 300 MiB body"
    assert b"BEATKEEPER_MAX_BODY_BYTES" in body


@pytest.mark.parametrize("path", ["/schedules/new", "/jobs/runs_report"])
def test_the_ui_reads_nothing_of_a_300_mb_stream_without_a_length(
    free_sqlite_url: str, path: str
) -> None:
    # Werkzeug reads no body without Content-Length (a2wsgi does not mark the input as
    # terminated): the form is empty, so the CSRF check refuses it, and nothing was read.
    status, pulled, _ = streamed(build(free_sqlite_url), path, total=300 * MiB)
    assert status == 400
    assert pulled == 0


def test_a_declared_length_over_the_limit_is_a_413_in_the_one_error_shape(
    client: TestClient,
) -> None:
    big = b"[" + b" " * (70 * 1024) + b"]"
    api = client.post("/api/schedules/import", content=big)
    assert api.status_code == 413
    assert set(api.json()) == {"detail", "errors"}
    page = client.post(
        "/schedules/new", data=schedule_form(csrf=csrf(client), reason="x" * 70 * 1024)
    )
    assert page.status_code == 413
    assert client.app.state.schedules.page() == []  # type: ignore[attr-defined]


def test_a_dns_rebinding_host_is_refused_before_the_app(client: TestClient) -> None:
    for host in ("rebind.evil.example", "rebind.evil.example:8000", "127.0.0.1.evil.example"):
        response = client.get("/api/schedules", headers={"host": host})
        assert response.status_code == 400, host
        assert "BEATKEEPER_ALLOWED_HOSTS" in response.json()["detail"]
    assert client.get("/api/schedules", headers={"host": "localhost:8000"}).status_code == 200


def test_the_origin_is_compared_with_the_configured_url_not_the_host_header(
    free_sqlite_url: str,
) -> None:
    # Even with every host allowed, a page on another origin cannot write, though its
    # Origin matches the Host header it sent (what the old check compared).
    app = build(free_sqlite_url, public_url="https://jobs.example", allowed_hosts=("*",))
    with TestClient(app, base_url="http://rebind.evil.example") as c:
        body = {"name": "x", "job": "runs_report", "trigger": "cron", "cron": "0 3 * * *"}
        evil = c.post("/api/schedules", json=body, headers={"origin": "http://rebind.evil.example"})
        assert evil.status_code == 403
        own = c.post("/api/schedules", json=body, headers={"origin": "https://jobs.example"})
        assert own.status_code == 201


def test_urls_the_app_builds_come_from_the_configured_public_url(client: TestClient) -> None:
    for name in ("a", "b"):
        body = {"name": name, "job": "runs_report", "trigger": "cron", "cron": "0 3 * * *"}
        assert client.post("/api/schedules", json=body).status_code == 201
    page = client.get("/api/audit", params={"limit": 1}, headers={"host": "localhost"})
    assert page.headers["link"].startswith("<https://jobs.example/api/audit?")


def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/", "/schedules", "/api/jobs", "/api/nope", "/static/ui.js", "/api/docs"):
        response = client.get(path)
        assert response.headers["x-frame-options"] == "DENY", path
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "same-origin", path
        policy = response.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'self'" in policy, path
        assert "http" not in policy, "no third-party source"
    assert "unsafe-inline" not in client.get("/schedules").headers["content-security-policy"]


def test_the_docs_page_allows_exactly_its_own_inline_script(client: TestClient) -> None:
    page = client.get("/api/docs")
    policy = page.headers["content-security-policy"]
    assert "'sha256-" in policy and "script-src 'self' 'sha256-" in policy
    assert "<script>" in page.text


def test_no_page_template_has_an_inline_script_or_handler() -> None:
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        assert "<script>" not in text and " onclick=" not in text, template.name
