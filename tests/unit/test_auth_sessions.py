"""Signing in and out, the session cookie, CSRF on every form, the login rate limit, and API
tokens: shown once, kept hashed, refused once revoked or expired."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from broker.settings import UnsafeSettingsError
from jobs.errors import Invalid
from jobs.store.tables import api_tokens, users
from tests.support.auth import PASSWORD, AuthApp, auth_app, csrf_of, sign_in
from tests.unit.test_settings import PRODUCTION
from webapp.auth.accounts import Accounts
from webapp.auth.limiter import FailureLimiter
from webapp.settings import WebSettings


@pytest.fixture
def site(tmp_path: Path) -> Iterator[AuthApp]:
    with auth_app(tmp_path, login_failures_per_minute=3) as found:
        found.accounts.add_user("ada", "operator", PASSWORD, by="test")
        yield found


def login(client: TestClient, name: str, password: str) -> int:
    token = csrf_of(client.get("/login").text)
    answer = client.post("/login", data={"csrf": token, "name": name, "password": password})
    return answer.status_code


def test_a_page_without_a_session_sends_to_the_login_and_back_after_signing_in(
    site: AuthApp,
) -> None:
    client = TestClient(site.app, follow_redirects=False)
    first = client.get("/runs?state=FAILURE")
    assert first.status_code == 302
    assert first.headers["location"] == "/login?next=/runs?state%3DFAILURE"
    token = csrf_of(client.get(first.headers["location"]).text)
    form = {"csrf": token, "name": "ada", "password": PASSWORD, "next": "/runs?state=FAILURE"}
    signed_in = client.post("/login", data=form)
    assert signed_in.status_code == 302
    assert signed_in.headers["location"] == "/runs?state=FAILURE"
    assert client.get("/runs").status_code == 200


def test_after_signing_in_next_never_leads_to_another_site(site: AuthApp) -> None:
    client = TestClient(site.app, follow_redirects=False)
    token = csrf_of(client.get("/login").text)
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        form = {"csrf": token, "name": "ada", "password": PASSWORD, "next": target}
        answer = client.post("/login", data=form)
        assert answer.headers["location"] == "/", target
        token = csrf_of(client.get("/login").text)


def test_the_session_cookie_is_httponly_and_samesite_lax_and_not_secure_only_locally(
    site: AuthApp,
) -> None:
    client = TestClient(site.app, follow_redirects=False)
    login(client, "ada", PASSWORD)
    [session] = [c for c in client.cookies.jar if c.name == "session"]
    assert session.has_nonstandard_attr("HttpOnly")
    assert session.get_nonstandard_attr("SameSite") == "Lax"
    assert not session.secure  # BEATKEEPER_ENV=test: local development over http
    assert site.app.state.flask_app.config["SESSION_COOKIE_SECURE"] is False


def test_outside_development_auth_is_on_cookies_are_secure_and_auth_cannot_be_turned_off() -> None:
    production = WebSettings.from_env(PRODUCTION)
    assert production.auth_required and production.secure_cookies
    assert not WebSettings.from_env({}).auth_required
    assert WebSettings.from_env({"BEATKEEPER_AUTH": "true"}).auth_required
    with pytest.raises(UnsafeSettingsError, match="BEATKEEPER_AUTH=false"):
        WebSettings.from_env({**PRODUCTION, "BEATKEEPER_AUTH": "false"})


def test_a_wrong_password_is_401_and_says_nothing_about_whether_the_name_exists(
    site: AuthApp,
) -> None:
    client = TestClient(site.app, follow_redirects=False)
    assert login(client, "ada", "wrong password!") == 401
    assert login(client, "nobody", "wrong password!") == 401
    assert client.get("/").status_code == 302


def test_the_login_is_rate_limited_per_name_and_answers_429_with_retry_after(
    site: AuthApp,
) -> None:
    client = TestClient(site.app, follow_redirects=False)
    for _ in range(3):
        assert login(client, "ada", "wrong password!") == 401
    token = csrf_of(client.get("/login").text)
    refused = client.post("/login", data={"csrf": token, "name": "ada", "password": PASSWORD})
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "too many failed sign-ins" in refused.text


def test_the_login_limiter_counts_per_key_and_forgets_after_the_window() -> None:
    now = [0.0]
    limiter = FailureLimiter(2, window=60, clock=lambda: now[0])
    limiter.failed(["user:a", "addr:1"])
    limiter.failed(["user:b", "addr:1"])
    assert limiter.retry_after(["user:c", "addr:1"]) == 60  # the address is spent
    assert limiter.retry_after(["user:a", "addr:2"]) is None  # one failure for a
    now[0] = 30.5
    assert limiter.retry_after(["addr:1"]) == 30
    now[0] = 60.0
    assert limiter.retry_after(["addr:1"]) is None


def test_every_form_post_without_its_csrf_token_is_refused_even_when_signed_in(
    site: AuthApp,
) -> None:
    client = sign_in(site.app, "ada")
    for path in ("/jobs/runs_report", "/schedules/x/pause", "/deadletters/default/redrive"):
        assert client.post(path, data={}).status_code == 400, path
        assert client.post(path, data={"csrf": "forged"}).status_code == 400, path
    assert client.post("/logout", data={}).status_code == 400
    assert client.get("/").status_code == 200  # still signed in


def test_logging_out_ends_the_session(site: AuthApp) -> None:
    client = sign_in(site.app, "ada")
    token = csrf_of(client.get("/").text)
    assert client.post("/logout", data={"csrf": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_a_new_password_or_role_ends_the_sessions_signed_before(site: AuthApp) -> None:
    client = sign_in(site.app, "ada")
    assert client.get("/").status_code == 200
    site.accounts.set_password("ada", "another long password", by="test")
    assert client.get("/").status_code == 302
    client = sign_in(site.app, "ada", "another long password")
    site.accounts.set_role("ada", "viewer", by="test")
    assert client.get("/").status_code == 302
    site.accounts.remove_user("ada", by="test")
    assert login(TestClient(site.app, follow_redirects=False), "ada", "x" * 12) == 401


def test_passwords_are_stored_as_argon2id_hashes(site: AuthApp) -> None:
    with site.accounts.store.engine.connect() as conn:
        stored = conn.execute(select(users.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


def test_user_input_is_checked_naming_the_field(site: AuthApp) -> None:
    with pytest.raises(Invalid) as short:
        site.accounts.add_user("bob", "viewer", "short", by="test")
    assert short.value.errors[0]["field"] == "password"
    with pytest.raises(Invalid) as role:
        site.accounts.add_user("bob", "root", PASSWORD, by="test")
    assert role.value.errors[0]["field"] == "role"
    with pytest.raises(Invalid) as name:
        site.accounts.add_user("bob\n", "viewer", PASSWORD, by="test")
    assert name.value.errors[0]["field"] == "name"


def test_a_token_is_shown_once_and_only_its_sha256_is_stored(site: AuthApp) -> None:
    issued = site.accounts.create_token("ci", ["read"], "test")
    assert issued.secret.startswith("bk_") and len(issued.secret) > 40
    with site.accounts.store.engine.connect() as conn:
        row = conn.execute(select(api_tokens)).one()._mapping
    assert row["token_hash"] == hashlib.sha256(issued.secret.encode()).hexdigest()
    assert issued.secret not in " ".join(str(v) for v in row.values())
    listed = site.accounts.tokens()
    assert [t.name for t in listed] == ["ci"]
    assert not hasattr(listed[0], "secret")
    bearer = {"Authorization": f"Bearer {issued.secret}"}
    assert site.client.get("/api/jobs", headers=bearer).status_code == 200


def test_a_revoked_expired_unknown_or_malformed_token_is_refused_with_401(
    site: AuthApp,
) -> None:
    revoked = site.accounts.create_token("old", ["read"], "test")
    site.accounts.revoke_token("old", by="test")
    later = datetime.now(UTC) + timedelta(hours=2)
    expiring = site.accounts.create_token("brief", ["read"], "test", timedelta(hours=1))
    future = Accounts(site.accounts.store.engine, clock=lambda: later)
    assert future.token_principal(expiring.secret) is None
    assert site.accounts.token_principal(expiring.secret) is not None
    for header in (
        f"Bearer {revoked.secret}",
        "Bearer bk_not-a-token",
        f"Basic {expiring.secret}",
        "Bearer ",
    ):
        answer = site.client.get("/api/jobs", headers={"Authorization": header})
        assert answer.status_code == 401, header
        assert answer.headers["WWW-Authenticate"] == "Bearer"
        assert set(answer.json()) == {"detail", "errors"}


def test_the_admin_token_page_shows_a_new_token_once_and_revokes_it(site: AuthApp) -> None:
    site.accounts.add_user("root", "admin", PASSWORD, by="test")
    admin = sign_in(site.app, "root")
    token = csrf_of(admin.get("/tokens").text)
    created = admin.post(
        "/tokens", data={"csrf": token, "name": "grafana", "scope": ["read"], "expires_days": "30"}
    )
    assert created.status_code == 201
    [row] = site.accounts.tokens()
    secret = created.text.split('id="new-token">')[1].split("<")[0]
    assert secret.startswith("bk_")
    assert secret not in admin.get("/tokens").text
    assert row.created_by == "root" and row.expires_at is not None
    bad = admin.post("/tokens", data={"csrf": token, "name": "x", "expires_days": "soon"})
    assert bad.status_code == 422 and "expires_days" in bad.text
    no_scope = admin.post("/tokens", data={"csrf": token, "name": "x"})
    assert no_scope.status_code == 422 and "scope" in no_scope.text
    assert admin.post("/tokens/grafana/revoke", data={"csrf": token}).status_code == 302
    assert (
        site.client.get("/metrics", headers={"Authorization": f"Bearer {secret}"}).status_code
        == 401
    )
    operator = sign_in(site.app, "ada")
    assert operator.get("/tokens").status_code == 403


def test_in_development_without_auth_everything_stays_open_but_bad_tokens_are_refused(
    tmp_path: Path,
) -> None:
    with auth_app(tmp_path) as found:
        found.app.state.gate.required = False
        open_client = found.client
        assert open_client.get("/api/jobs").status_code == 200
        assert open_client.get("/").status_code == 200
        assert open_client.get("/metrics").status_code == 200
        bad = open_client.get("/api/jobs", headers={"Authorization": "Bearer bk_nope"})
        assert bad.status_code == 401
