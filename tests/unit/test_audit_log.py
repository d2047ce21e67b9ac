"""The audit log: every schedule change recorded with who, when, what, before and after, in
the transaction of the change; listed by the API (filtered, paged) and the UI."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from jobs.factory import create_celery_app, load_registry
from jobs.schedules.definition import ScheduleDefinition
from jobs.schedules.kinds import TriggerKind
from jobs.settings import JobsSettings
from jobs.store import audit
from jobs.store.audit import AuditKind, AuditLog
from jobs.store.db import make_engine
from jobs.store.tables import audit_log
from tests.conftest import settings_env
from webapp.asgi import create_app
from webapp.settings import WebSettings

CRON = {"job": "runs_report", "trigger": "cron", "cron": "0 3 * * *"}


@pytest.fixture
def client(free_sqlite_url: str) -> Iterator[TestClient]:
    env = settings_env("bk-audit", free_sqlite_url, "amqp://guest:guest@127.0.0.1:1//")
    settings = WebSettings(jobs=JobsSettings.from_env(env))
    celery_app = create_celery_app(settings.jobs, load_registry("jobs.examples"))
    with TestClient(create_app(settings, celery_app)) as c:
        yield c


def test_each_schedule_change_is_recorded_with_who_what_and_before_and_after(
    client: TestClient,
) -> None:
    assert client.post("/api/schedules", json={"name": "n", **CRON, "changed_by": "ann"}).is_success
    patched = client.patch("/api/schedules/n", json={"cron": "0 4 * * *", "changed_by": "bob"})
    assert patched.is_success
    assert client.post(
        "/api/schedules/n/pause", json={"changed_by": "cy", "reason": "x"}
    ).is_success
    assert client.post("/api/schedules/n/resume", json={"changed_by": "cy"}).is_success
    assert client.delete("/api/schedules/n", params={"changed_by": "dee"}).status_code == 204
    entries = client.get("/api/audit").json()
    # Open development: nobody signed in, so the actor says so; claimed names are notes.
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("delete", "anonymous@loopback (claimed: dee)"),
        ("resume", "anonymous@loopback (claimed: cy)"),
        ("pause", "anonymous@loopback (claimed: cy)"),
        ("update", "anonymous@loopback (claimed: bob)"),
        ("create", "anonymous@loopback (claimed: ann)"),
    ]
    delete, _, pause, update, create = entries
    assert create["before"] is None and create["after"]["cron"] == "0 3 * * *"
    assert update["before"]["cron"] == "0 3 * * *" and update["after"]["cron"] == "0 4 * * *"
    assert pause["after"]["enabled"] is False and pause["reason"] == "x"
    assert delete["before"]["name"] == "n" and delete["after"] is None
    assert {e["kind"] for e in entries} == {"schedule"}


def test_the_audit_api_filters_and_pages_with_a_next_link(client: TestClient) -> None:
    for name in ("a", "b", "c"):
        assert client.post("/api/schedules", json={"name": name, **CRON}).is_success
    only_b = client.get("/api/audit", params={"subject": "b"}).json()
    assert [e["subject"] for e in only_b] == ["b"]
    first = client.get("/api/audit", params={"limit": 2})
    assert [e["subject"] for e in first.json()] == ["c", "b"]
    next_url = first.headers["link"].split(";")[0].strip("<>")
    assert [e["subject"] for e in client.get(next_url).json()] == ["a"]
    assert client.get("/api/audit", params={"kind": "nope"}).status_code == 422


def test_the_audit_page_lists_changes_and_refuses_an_unknown_kind(client: TestClient) -> None:
    assert client.post("/api/schedules", json={"name": "n", **CRON, "changed_by": "ann"}).is_success
    page = client.get("/audit")
    assert page.status_code == 200
    assert "ann" in page.text and "<code>n</code>" in page.text and "0 3 * * *" in page.text
    assert client.get("/audit?kind=nope").status_code == 400


def test_an_import_records_one_entry_per_schedule(client: TestClient) -> None:
    lines = "\n".join(
        f'{{"name": "i{n}", "job": "runs_report", "trigger": "cron", "cron": "0 3 * * *"}}'
        for n in (1, 2)
    )
    imported = client.post(
        "/api/schedules/import", content=lines, headers={"content-type": "application/x-ndjson"}
    )
    assert imported.status_code == 201, imported.text
    entries = client.get("/api/audit", params={"action": "import"}).json()
    assert sorted(e["subject"] for e in entries) == ["i1", "i2"]


def test_an_audit_row_commits_with_its_change_or_not_at_all(free_sqlite_url: str) -> None:
    engine = make_engine(free_sqlite_url)
    now = datetime(2026, 12, 2, tzinfo=UTC)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        audit.record(
            conn,
            actor="x",
            action="create",
            kind=AuditKind.USER,
            subject="u",
            before=None,
            after={"name": "u", "password_hash": "secret"},
            at=now,
        )
        raise RuntimeError("the change failed")
    assert AuditLog(engine).page() == []
    with engine.begin() as conn:
        audit.record(
            conn,
            actor="x",
            action="create",
            kind=AuditKind.TOKEN,
            subject="t",
            before=None,
            after={"name": "t", "token_hash": "h", "scopes": ["read"]},
            at=now,
        )
    with engine.connect() as conn:
        stored = conn.execute(select(audit_log.c.after)).scalar_one()
    assert stored == {"name": "t", "scopes": ["read"]}, "secrets never reach the log"


def test_code_sync_writes_are_audited_with_the_code_as_actor(client: TestClient) -> None:
    manager = client.app.state.schedules  # type: ignore[attr-defined]
    definition = ScheduleDefinition(
        name="s", job="runs_report", trigger=TriggerKind.CRON, cron="0 3 * * *"
    )
    manager.create(definition, "code")
    assert [e["actor"] for e in client.get("/api/audit").json()] == ["code"]


def test_every_api_operation_with_a_json_body_reads_it_strictly(client: TestClient) -> None:
    document = client.get("/api/openapi.json").json()
    checked = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content or not content["application/json"]:
                continue
            url = re.sub(r"\{[^}]+\}", "x", path)
            answer = client.request(
                method, url, content='{"x": NaN}', headers={"content-type": "application/json"}
            )
            assert answer.status_code == 422, (method, path)
            assert answer.json()["errors"][0]["field"] == "x", (method, path)
            checked += 1
    assert checked >= 8
