"""Who the audit log names: the principal that made the change (a signed-in user, an API
token, the OS user of the CLI), never a name the client claims; and every change to a user
or a token is in it, with before and after and no secret."""

from __future__ import annotations

import getpass
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from fastapi.testclient import TestClient

from tests.conftest import settings_env
from tests.support.auth import PASSWORD, AuthApp, auth_app, csrf_of, sign_in
from tests.support.pages import schedule_form
from webapp.cli import main

CRON = {"job": "runs_report", "trigger": "cron", "cron": "0 3 * * *"}
ME = f"cli:{getpass.getuser()}"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[AuthApp]:
    """Auth on, with an admin user ``root``."""
    with auth_app(tmp_path) as found:
        found.accounts.add_user("root", "admin", PASSWORD, by="test")
        yield found


def audit(client: TestClient, **filters: str) -> list[dict[str, Any]]:
    answer = client.get("/api/audit", params=filters)
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()
    return entries


def bearer(site: AuthApp, secret: str) -> TestClient:
    return TestClient(site.app, headers={"Authorization": f"Bearer {secret}"})


def test_a_token_request_records_the_token_even_when_the_body_claims_another_changed_by(
    site: AuthApp,
) -> None:
    api = bearer(site, site.accounts.create_token("deploy", ["schedules"], "test").secret)
    reader = bearer(site, site.accounts.create_token("reader", ["read"], "test").secret)

    created = api.post("/api/schedules", json={"name": "n", **CRON, "changed_by": "bob"})
    assert created.status_code == 201, created.text
    assert api.patch("/api/schedules/n", json={"cron": "0 4 * * *"}).is_success
    assert api.post("/api/schedules/n/pause", json={"changed_by": "alice"}).is_success
    assert api.delete("/api/schedules/n", params={"changed_by": "bob"}).status_code == 204
    line = '{"name": "i1", "job": "runs_report", "trigger": "cron", "cron": "0 3 * * *"}'
    imported = api.post(
        "/api/schedules/import",
        params={"changed_by": "bob"},
        content=line,
        headers={"content-type": "application/x-ndjson"},
    )
    assert imported.status_code == 201, imported.text

    entries = audit(reader, kind="schedule")
    assert [(e["action"], e["subject"], e["actor"]) for e in entries] == [
        ("import", "i1", "token:deploy (claimed: bob)"),
        ("delete", "n", "token:deploy (claimed: bob)"),
        ("pause", "n", "token:deploy (claimed: alice)"),
        ("update", "n", "token:deploy"),
        ("create", "n", "token:deploy (claimed: bob)"),
    ]
    assert reader.get("/api/schedules/i1").json()["changed_by"] == "token:deploy (claimed: bob)"
    assert len(audit(reader, actor="token:deploy")) == 5, "the token's rows, noted or not"
    assert audit(reader, actor="bob") == [], "a claimed name is nobody's identity"


def test_a_ui_change_records_the_signed_in_user(site: AuthApp) -> None:
    admin = sign_in(site.app, "root")
    token = csrf_of(admin.get("/schedules/new").text)

    created = admin.post(
        "/schedules/new", data=schedule_form(name="ui-made", csrf=token, changed_by="mallory")
    )
    assert created.status_code == 302, created.text
    paused = admin.post("/schedules/ui-made/pause", data={"csrf": token, "reason": "x"})
    assert paused.status_code == 302, paused.text

    entries = audit(admin, kind="schedule")
    assert [(e["action"], e["actor"]) for e in entries] == [
        ("pause", "root"),
        ("create", "root (claimed: mallory)"),
    ]


def test_user_and_token_changes_from_the_cli_are_audited_with_before_after_and_no_secret(
    site: AuthApp,
) -> None:
    url = site.accounts.store.engine.url.render_as_string(hide_password=False)
    cli = CliRunner(env=settings_env("bk-auth", url, "amqp://guest:guest@127.0.0.1:1//"))

    def run(*args: str, stdin: str | None = None) -> Result:
        result = cli.invoke(main, list(args), input=stdin)
        assert result.exit_code == 0, result.output
        return result

    run("users", "add", "carol", "--role", "operator", stdin="first long password\n")
    run("users", "set-role", "carol", "admin")
    run("users", "set-password", "carol", stdin="second long password\n")
    run("users", "remove", "carol")
    secret = run("tokens", "create", "ci", "--scope", "read").stdout.strip()
    run("tokens", "revoke", "ci")

    admin = sign_in(site.app, "root")
    users = audit(admin, kind="user", subject="carol")
    assert [(e["action"], e["actor"]) for e in users] == [
        ("delete", ME),
        ("set_password", ME),
        ("set_role", ME),
        ("create", ME),
    ]
    delete, password, role, create = users
    assert create["before"] is None
    assert (create["after"]["name"], create["after"]["role"]) == ("carol", "operator")
    assert (role["before"]["role"], role["after"]["role"]) == ("operator", "admin")
    assert password["before"]["updated_at"] < password["after"]["updated_at"]
    assert delete["before"]["role"] == "admin" and delete["after"] is None

    tokens = audit(admin, kind="token", subject="ci")
    assert [(e["action"], e["actor"]) for e in tokens] == [("revoke", ME), ("create", ME)]
    revoke, issued = tokens
    assert issued["before"] is None and issued["after"]["scopes"] == ["read"]
    assert revoke["before"]["revoked_at"] is None and revoke["after"]["revoked_at"] is not None

    text = admin.get("/api/audit").text
    for leaked in (
        "first long password",
        "second long password",
        "$argon2",
        "password_hash",
        secret,
        secret[:10],
        hashlib.sha256(secret.encode()).hexdigest(),
    ):
        assert leaked not in text


def test_a_token_created_and_revoked_on_the_tokens_page_is_audited_with_the_signed_in_admin(
    site: AuthApp,
) -> None:
    admin = sign_in(site.app, "root")
    token = csrf_of(admin.get("/tokens").text)

    created = admin.post("/tokens", data={"csrf": token, "name": "grafana", "scope": ["read"]})
    assert created.status_code == 201, created.text
    secret = created.text.split('id="new-token">')[1].split("<")[0]
    assert admin.post("/tokens/grafana/revoke", data={"csrf": token}).status_code == 302

    entries = audit(admin, kind="token", subject="grafana")
    assert [(e["action"], e["actor"]) for e in entries] == [("revoke", "root"), ("create", "root")]
    revoke, create = entries
    assert create["after"]["created_by"] == "root" and create["after"]["scopes"] == ["read"]
    assert revoke["after"]["revoked_at"] is not None
    text = admin.get("/api/audit").text
    assert secret not in text and secret[:10] not in text
    assert hashlib.sha256(secret.encode()).hexdigest() not in text
