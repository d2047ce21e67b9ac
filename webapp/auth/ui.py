"""The principal in the Flask UI: ``current_principal()`` and ``@requires(action)``.

One ``before_request`` hook guards every page: it finds who is asking (session cookie or
bearer token, through the same :class:`Gate` as the API), refuses an action their role does
not allow (403), sends someone without credentials to the login page (401 for a POST), and
checks the CSRF token of EVERY form POST made with a session (Flask-WTF's ``CSRFProtect``,
called from here so a bearer request, which a browser never sends by itself, needs none).
A view without ``@requires`` is refused to everyone: a new page must say what it needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, current_app, g, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError, CSRFProtect
from itsdangerous import BadSignature

from webapp.auth.gate import AuthError, Forbidden, Gate, TooManyAttempts, Unauthenticated
from webapp.auth.permissions import Action
from webapp.auth.principal import Principal

EXTENSION = "beatkeeper.gate"
ATTRIBUTE = "beatkeeper_action"
PUBLIC_ENDPOINTS = frozenset({"static"})
ANONYMOUS = Principal(name="anonymous", role=None, scopes=frozenset(), authenticated=False)
View = TypeVar("View", bound=Callable[..., Any])


def requires(action: Action, *, post: Action | None = None) -> Callable[[View], View]:
    """Declare the action a view performs (under its ``@bp.route``); ``post`` when a page
    that shows something (``action``) also takes a form that does something else."""

    def mark(view: View) -> View:
        setattr(view, ATTRIBUTE, {"GET": action, "POST": post or action})
        return view

    return mark


def action_of(app: Flask, endpoint: str, method: str = "GET") -> Action | None:
    """What ``endpoint`` needs for ``method``; None when the view declares nothing."""
    if endpoint in PUBLIC_ENDPOINTS or endpoint.endswith(".static"):
        return Action.PUBLIC
    declared = getattr(app.view_functions.get(endpoint), ATTRIBUTE, None)
    if not isinstance(declared, dict):
        return None
    found = declared.get("POST" if method == "POST" else "GET")
    return found if isinstance(found, Action) else None


def current_principal() -> Principal:
    """Who is making this request (ANONYMOUS on a public page without credentials)."""
    found = g.get("principal")
    return found if isinstance(found, Principal) else ANONYMOUS


def gate() -> Gate:
    found = current_app.extensions[EXTENSION]
    assert isinstance(found, Gate)
    return found


def _guard() -> None:
    if request.endpoint is None:
        return  # 404 or 405: Flask answers
    action = action_of(current_app, request.endpoint, request.method)
    authorization = request.headers.get("Authorization")
    try:
        g.principal = gate().principal(authorization, session)
    except Unauthenticated:
        if action is not Action.PUBLIC:
            raise
        g.principal = ANONYMOUS
    if request.method == "POST" and authorization is None:
        current_app.extensions["csrf"].protect()
    if action is None:
        raise Forbidden(f"{request.endpoint} declares no permission")
    Gate.authorize(g.principal, action)


def _refused(exc: AuthError) -> ResponseReturnValue:
    if isinstance(exc, Unauthenticated) and request.method == "GET":
        here = request.full_path.rstrip("?")
        return redirect(url_for("access.login", next=here))
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyAttempts) else {}
    return render_template("refused.html", message=exc.detail), exc.status, headers


def _csrf_refused(exc: CSRFError) -> ResponseReturnValue:
    message = f"{exc.description}: reload the page and submit again"
    return render_template("refused.html", message=message), 400


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.jobs")
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else url_for("pages.jobs")


def install(app: Flask, the_gate: Gate) -> None:
    """Guard every view of ``app``; call after its settings are in ``app.config``."""
    app.config.setdefault("WTF_CSRF_FIELD_NAME", "csrf")
    # The one check runs in _guard for every form POST, not in a view of its own choosing.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid as long as the session
    CSRFProtect(app)
    app.extensions[EXTENSION] = the_gate
    app.before_request(_guard)
    app.register_error_handler(AuthError, _refused)
    app.register_error_handler(CSRFError, _csrf_refused)

    @app.context_processor
    def who() -> dict[str, Any]:
        principal = current_principal()
        return {"principal": principal, "may": principal.may, "Action": Action}


def session_reader(app: Flask) -> Callable[[str], dict[str, Any] | None]:
    """Read the UI's session cookie outside Flask (the API accepts the UI's session)."""
    interface = app.session_interface
    assert isinstance(interface, SecureCookieSessionInterface)
    serializer = interface.get_signing_serializer(app)
    assert serializer is not None  # the app has a secret key
    max_age = int(app.permanent_session_lifetime.total_seconds())

    def read(cookie: str) -> dict[str, Any] | None:
        try:
            data = serializer.loads(cookie, max_age=max_age)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None

    return read
