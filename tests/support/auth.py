"""An app with auth on, its users (one per role) and tokens (one per scope), and clients
signed in as each: what the auth tests share."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from jobs.factory import create_celery_app, load_registry
from jobs.settings import JobsSettings
from jobs.store.migrate import upgrade
from tests.conftest import settings_env
from webapp.asgi import create_app
from webapp.auth.accounts import Accounts
from webapp.auth.permissions import Role, Scope
from webapp.settings import WebSettings

PASSWORD = "correct horse battery staple"
ORIGIN = "http://testserver"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class AuthApp:
    app: FastAPI
    accounts: Accounts
    client: TestClient  # anonymous, lifespan running
    users: dict[Role, TestClient] = field(default_factory=dict)
    tokens: dict[Scope, str] = field(default_factory=dict)

    def bearer(self, scope: Scope) -> TestClient:
        return TestClient(
            self.app,
            headers={"Authorization": f"Bearer {self.tokens[scope]}"},
            follow_redirects=False,
        )


def csrf_of(page: str) -> str:
    found = CSRF.search(page)
    assert found, "the page carries a CSRF token"
    return found.group(1)


def sign_in(app: FastAPI, name: str, password: str = PASSWORD) -> TestClient:
    """A client with the session of ``name`` (and the same-origin header a browser sends)."""
    client = TestClient(app, headers={"Origin": ORIGIN}, follow_redirects=False)
    token = csrf_of(client.get("/login").text)
    answer = client.post("/login", data={"csrf": token, "name": name, "password": password})
    assert answer.status_code == 302, answer.text
    return client


@contextmanager
def auth_app(tmp_path: Path, **settings: object) -> Iterator[AuthApp]:
    url = f"sqlite:///{tmp_path / 'auth.db'}"
    upgrade(url)
    env = settings_env("bk-auth", url, "amqp://guest:guest@127.0.0.1:1//")
    web = WebSettings(jobs=JobsSettings.from_env(env), auth=True, **settings)  # type: ignore[arg-type]
    celery_app = create_celery_app(web.jobs, load_registry("jobs.examples"))
    app = create_app(web, celery_app)
    accounts = Accounts(celery_app.store.engine)
    with TestClient(app, follow_redirects=False) as client:
        yield AuthApp(app, accounts, client)


def with_everyone(found: AuthApp) -> AuthApp:
    """Add a user per role (signed in) and a token per scope."""
    for role in Role:
        found.accounts.add_user(role.value, role.value, PASSWORD, by="test")
        found.users[role] = sign_in(found.app, role.value)
    for scope in Scope:
        found.tokens[scope] = found.accounts.create_token(scope.value, [scope], "test").secret
    return found
