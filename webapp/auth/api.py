"""The principal in the FastAPI API: ``current_principal`` and ``allow(action)``.

Every route names the one action it performs, ``dependencies=[allow(Action.READ)]``; the
action's role and scope are in ``webapp/auth/permissions.py``. A route that needs to know
who called (the audit log, per-token limits) takes
``principal: Annotated[Principal, Depends(current_principal)]``; FastAPI resolves it once per
request, so asking twice costs nothing.

Writes made with the UI's session cookie (the UI's own fetches) must come from the same
origin (their ``Origin`` header is checked); bearer tokens are not sent by browsers on
their own and need no such check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from webapp.auth.gate import AuthError, Forbidden, Gate, TooManyAttempts
from webapp.auth.origin import origin_key
from webapp.auth.permissions import Action
from webapp.auth.principal import LOCAL, Principal

SESSION_COOKIE = "session"  # Flask's default SESSION_COOKIE_NAME
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# auto_error=False: a missing header is ours to judge (open in development, else 401).
bearer = HTTPBearer(auto_error=False, description="an API token: `beatkeeper tokens create`")


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """Who is calling: a token, a signed-in user, or LOCAL in open development; 401 if none."""
    gate: Gate = request.app.state.gate
    authorization = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    if authorization is None and cookie is None and not gate.required:
        return LOCAL  # open development: no thread hop, no store read
    session = gate.read_session(cookie) if cookie and authorization is None else None
    principal = await run_in_threadpool(gate.principal, authorization, session)
    if session is not None and principal.authenticated:
        request.state.via_session = True
    return principal


def allow(action: Action) -> Any:
    """The dependency a route declares: ``dependencies=[allow(Action.X)]``."""

    async def check(
        request: Request, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        Gate.authorize(principal, action)
        if request.method in WRITE_METHODS and getattr(request.state, "via_session", False):
            origin = request.headers.get("origin")
            # The origins of the configured public URL (webapp/asgi.py), never the Host header.
            if origin is None or origin_key(origin) not in request.app.state.origins:
                raise Forbidden("a write with the UI's session must come from its own pages")
        return principal

    async def public() -> None:
        return None

    dependency: Callable[..., Any] = public if action is Action.PUBLIC else check
    setattr(dependency, "action", action)  # noqa: B010  (read by action_of_route)
    return Depends(dependency)


def action_of_route(dependencies: Any) -> list[Action]:
    """The actions declared on a route (its dependant's dependencies), for tests and docs."""
    return [a for d in dependencies if (a := getattr(d.call, "action", None)) is not None]


async def auth_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AuthError)  # registered for that class only
    # Imported here: webapp.api's routers import this module, and its errors module is theirs.
    from webapp.api.errors import error_response

    response = error_response(exc.status, exc.detail)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, TooManyAttempts):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


ERROR_REF = "#/components/schemas/ErrorOut"
AUTH_ERRORS = {
    "401": "no credentials, or a token unknown, revoked or expired",
    "403": "the role or the token's scopes do not allow this",
}


def install(api: FastAPI) -> None:
    """Map auth errors to 401/403; document them on every operation that needs credentials.
    Call after ``webapp.api.errors.install``, whose OpenAPI document this extends."""
    api.add_exception_handler(AuthError, auth_error)

    described = api.openapi  # the error module's document (one error shape)

    def openapi() -> dict[str, Any]:
        schema = described()
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                if not operation.get("security"):
                    continue
                responses = operation.setdefault("responses", {})
                for status, description in AUTH_ERRORS.items():
                    responses[status] = {
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": ERROR_REF}}},
                    }
        return schema

    api.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
