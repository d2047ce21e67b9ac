"""From a request's credentials to a :class:`Principal`, the same way for the UI and the API.

Credentials, in order: an ``Authorization: Bearer <token>`` header (an API token), then the
UI's session cookie (a user who signed in). With auth off (development without
``BEATKEEPER_AUTH``) a request without credentials is the open ``LOCAL`` principal; one with
credentials is still checked, so a bad token is refused in every mode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from webapp.auth.accounts import Accounts
from webapp.auth.limiter import FailureLimiter
from webapp.auth.permissions import Action
from webapp.auth.principal import LOCAL, Principal

SessionData = Mapping[str, Any]


class AuthError(Exception):
    status = 401

    @property
    def detail(self) -> str:
        return str(self)


class Unauthenticated(AuthError):
    """No credentials, or credentials that do not count (HTTP 401)."""


class Forbidden(AuthError):
    """Credentials that count, for someone not allowed this action (HTTP 403)."""

    status = 403


class TooManyAttempts(AuthError):
    """Too many failed sign-ins for this name or address (HTTP 429 with Retry-After)."""

    status = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after} s")
        self.retry_after = retry_after


class Gate:
    """Authenticates requests; ``required`` is False only in open development."""

    def __init__(
        self,
        accounts: Accounts,
        required: bool,
        read_session: Callable[[str], SessionData | None] = lambda _: None,
        login_failures_per_minute: int = 5,
    ) -> None:
        self.accounts = accounts
        self.required = required
        self.read_session = read_session
        self.login_limiter = FailureLimiter(login_failures_per_minute)

    def principal(self, authorization: str | None, session: SessionData | None) -> Principal:
        """Who this is; raises Unauthenticated when credentials are missing or bad."""
        if authorization:
            scheme, _, secret = authorization.partition(" ")
            if scheme.lower() != "bearer" or not secret.strip():
                raise Unauthenticated("send 'Authorization: Bearer <token>'")
            found = self.accounts.token_principal(secret.strip())
            if found is None:
                raise Unauthenticated("the bearer token is unknown, revoked or expired")
            return found
        if session and isinstance(session.get("user"), str):
            epoch = session.get("epoch")
            user = self.accounts.session_principal(session["user"], int(epoch or 0))
            if user is not None:
                return user
            if self.required:
                raise Unauthenticated("the session has ended; sign in again")
        if not self.required:
            return LOCAL
        raise Unauthenticated("sign in, or send 'Authorization: Bearer <token>'")

    @staticmethod
    def authorize(principal: Principal, action: Action) -> None:
        if not principal.may(action):
            who = f"role {principal.role}" if principal.role else "this token's scopes"
            raise Forbidden(f"{who} may not {action.replace('_', ' ')}")
