"""Every route and page of the app, enumerated from the app itself, against every role and
every token scope: allowed, 403, or (without credentials) 401 or the login page. A route
added without a declared permission fails here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from flask import Flask
from starlette.routing import Mount

from tests.support.auth import AuthApp, auth_app, csrf_of, with_everyone
from webapp.auth.api import action_of_route
from webapp.auth.permissions import Action, Role, Scope, role_allows, scopes_allow
from webapp.auth.ui import action_of

# Mounted apps that are not routes of ours: Swagger's static files, and Flask (its own rules).
MOUNTS = {"/api/docs-assets", ""}
# Never fetched by a permitted client: it streams until the client goes away.
STREAMS = {"/api/events"}
PARAM = re.compile(r"\{[^}]+\}|<[^>]+>")


@dataclass(frozen=True)
class Endpoint:
    kind: str  # "api" or "ui"
    method: str
    path: str
    action: Action | None

    @property
    def url(self) -> str:
        # Names that exist nowhere: a permitted request ends in 404 or 422, changing nothing.
        return PARAM.sub("no-such-thing", self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def endpoints(found: AuthApp) -> list[Endpoint]:
    listed: list[Endpoint] = []
    # FastAPI 0.16x keeps included routers as branches; iter_route_contexts flattens them.
    for route in iter_route_contexts(found.app.routes):
        if isinstance(route.original_route, APIRoute):
            actions = action_of_route(route.dependant.dependencies)
            assert len(actions) == 1, f"{route.path} declares {actions or 'no'} permission"
            methods = sorted(route.methods or ())
            listed += [Endpoint("api", m, str(route.path), actions[0]) for m in methods]
        else:
            assert isinstance(route.original_route, Mount), route
            assert route.path in MOUNTS, f"unexpected mount {route.path}"
    flask_app: Flask = found.app.state.flask_app
    for rule in flask_app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            action = action_of(flask_app, rule.endpoint, method)
            listed.append(Endpoint("ui", method, rule.rule, action))
    return listed


@pytest.fixture(scope="module")
def everyone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthApp]:
    with auth_app(tmp_path_factory.mktemp("routes")) as found:
        yield with_everyone(found)


def send(client: TestClient, endpoint: Endpoint, form_token: str | None = None) -> int:
    form = endpoint.kind == "ui" and endpoint.method == "POST"
    data = {"csrf": form_token or ""} if form else None
    body: dict[str, object] | None = None if form or endpoint.method in ("GET", "DELETE") else {}
    answer = client.request(endpoint.method, endpoint.url, data=data, json=body)
    return answer.status_code


def test_every_route_and_page_declares_exactly_one_permission(everyone: AuthApp) -> None:
    listed = endpoints(everyone)
    undeclared = [str(e) for e in listed if e.action is None]
    assert undeclared == []
    public = {str(e) for e in listed if e.action is Action.PUBLIC}
    # The only things that answer without credentials.
    assert public == {
        "GET /livez",
        "GET /api/docs/oauth2-redirect",
        "GET /static/<path:filename>",
        "GET /login",
        "POST /login",
        "POST /logout",
    }
    assert len(listed) > 40


def test_without_credentials_the_api_answers_401_and_pages_send_to_the_login(
    everyone: AuthApp,
) -> None:
    anonymous = everyone.client
    for endpoint in endpoints(everyone):
        if endpoint.action is Action.PUBLIC:
            continue
        status = send(anonymous, endpoint)
        if endpoint.kind == "ui" and endpoint.method == "GET":
            assert status == 302, endpoint
        elif endpoint.kind == "ui":
            assert status in (400, 401), endpoint  # no CSRF token, or no session
        else:
            assert status == 401, endpoint


def test_an_unknown_page_without_credentials_says_nothing_about_what_exists(
    everyone: AuthApp,
) -> None:
    assert everyone.client.get("/api/nowhere").status_code in (401, 404)
    assert everyone.client.get("/livez").json() == {"status": "ok"}


@pytest.mark.parametrize("role", list(Role))
def test_each_role_is_allowed_exactly_what_the_permission_table_gives_it(
    everyone: AuthApp, role: Role
) -> None:
    client = everyone.users[role]
    token = csrf_of(client.get("/").text)
    for endpoint in endpoints(everyone):
        assert endpoint.action is not None
        if endpoint.action is Action.PUBLIC or endpoint.path in STREAMS:
            continue
        if endpoint.path == "/logout":
            continue
        status = send(client, endpoint, token)
        if role_allows(role, endpoint.action):
            assert status not in (401, 403), f"{role} refused {endpoint} ({status})"
        else:
            assert status == 403, f"{role} got {status} for {endpoint}"


@pytest.mark.parametrize("scope", list(Scope))
def test_each_token_scope_is_allowed_exactly_what_the_permission_table_gives_it(
    everyone: AuthApp, scope: Scope
) -> None:
    client = everyone.bearer(scope)
    for endpoint in endpoints(everyone):
        assert endpoint.action is not None
        if endpoint.action is Action.PUBLIC or endpoint.path in STREAMS:
            continue
        status = send(client, endpoint)
        if scopes_allow(frozenset({scope}), endpoint.action):
            assert status not in (401, 403), f"{scope} refused {endpoint} ({status})"
        else:
            assert status == 403, f"{scope} got {status} for {endpoint}"


def test_the_event_stream_and_metrics_need_the_read_permission(everyone: AuthApp) -> None:
    assert everyone.client.get("/api/events").status_code == 401
    assert everyone.client.get("/metrics").status_code == 401
    assert everyone.bearer(Scope.ENQUEUE).get("/metrics").status_code == 403
    metrics = everyone.bearer(Scope.READ).get("/metrics")
    assert metrics.status_code == 200
    assert "beatkeeper" in metrics.text


def test_the_openapi_document_names_the_bearer_scheme_and_401_403_on_every_operation(
    everyone: AuthApp,
) -> None:
    assert everyone.client.get("/api/openapi.json").status_code == 401
    document = everyone.bearer(Scope.READ).get("/api/openapi.json").json()
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if path == "/livez":
                assert "security" not in operation
                continue
            assert operation["security"] == [{"HTTPBearer": []}], (method, path)
            for status in ("401", "403"):
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (method, path)
    assert "ErrorOut" in document["components"]["schemas"]


def test_a_write_with_the_ui_session_from_another_origin_or_none_is_refused(
    everyone: AuthApp, tmp_path: Path
) -> None:
    admin = everyone.users[Role.ADMIN]
    cookie = admin.cookies.get("session")
    bare = TestClient(everyone.app, cookies={"session": cookie or ""})
    assert bare.get("/api/jobs").status_code == 200  # reading needs no Origin
    assert bare.post("/api/jobs/no-such-thing/runs", json={}).status_code == 403
    other = bare.post(
        "/api/jobs/no-such-thing/runs", json={}, headers={"Origin": "http://evil.example"}
    )
    assert other.status_code == 403
    same = bare.post(
        "/api/jobs/no-such-thing/runs", json={}, headers={"Origin": "http://testserver"}
    )
    assert same.status_code == 404


def test_rate_limits_count_per_principal_not_per_address(tmp_path: Path) -> None:
    with auth_app(tmp_path, rate_limit_enqueue="2/minute") as found:
        first = found.accounts.create_token("one", ["enqueue"], "test").secret
        second = found.accounts.create_token("two", ["enqueue"], "test").secret
        for secret, expected in ((first, 404), (first, 404), (first, 429), (second, 404)):
            answer = found.client.post(
                "/api/jobs/no-such-job/runs",
                json={},
                headers={"Authorization": f"Bearer {secret}"},
            )
            assert answer.status_code == expected
