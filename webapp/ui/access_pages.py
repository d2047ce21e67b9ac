"""Sign in, sign out, and the admin's API token page.

A new token's secret is rendered once, in the answer to the POST that created it: it is
never put in a URL, a flash message (the session cookie) or the store.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from jobs.errors import Conflict, FieldError, Invalid
from webapp.auth.accounts import IssuedToken
from webapp.auth.gate import TooManyAttempts
from webapp.auth.permissions import Action, Scope
from webapp.auth.ui import current_principal, gate, requires, safe_next

bp = Blueprint("access", __name__)


@bp.route("/login", methods=["GET", "POST"])
@requires(Action.PUBLIC)
def login() -> ResponseReturnValue:
    target = request.values.get("next", "")
    if request.method == "GET":
        return render_template("login.html", next=target, name="", error=None)
    name = request.form.get("name", "")
    password = request.form.get("password", "")
    limiter = gate().login_limiter
    keys = [f"user:{name}", f"addr:{request.remote_addr}"]
    if wait := limiter.retry_after(keys):
        raise TooManyAttempts(wait)
    user = gate().accounts.login(name, password)
    if user is None:
        limiter.failed(keys)
        error = "Wrong name or password."
        return render_template("login.html", next=target, name=name, error=error), 401
    limiter.forget(f"user:{name}")
    session.clear()  # a fresh session (and CSRF token) for the signed-in user
    session.permanent = True
    session["user"] = user.name
    session["epoch"] = user.session_epoch
    return redirect(safe_next(target))


@bp.post("/logout")
@requires(Action.PUBLIC)
def logout() -> ResponseReturnValue:
    session.clear()
    return redirect(url_for(".login"))


def _tokens_page(
    issued: IssuedToken | None = None, errors: list[FieldError] | None = None, status: int = 200
) -> ResponseReturnValue:
    page = render_template(
        "tokens.html",
        tokens=gate().accounts.tokens(),
        scopes=list(Scope),
        issued=issued,
        errors=errors or [],
        form=request.form,
    )
    return page, status


@bp.get("/tokens")
@requires(Action.MANAGE_ACCESS)
def tokens() -> ResponseReturnValue:
    return _tokens_page()


@bp.post("/tokens")
@requires(Action.MANAGE_ACCESS)
def create_token() -> ResponseReturnValue:
    form = request.form
    errors: list[FieldError] = []
    expires: timedelta | None = None
    if days := form.get("expires_days", "").strip():
        if not days.isdigit() or not 1 <= int(days) <= 3650:
            errors.append({"field": "expires_days", "message": "a whole number of days, 1-3650"})
        else:
            expires = timedelta(days=int(days))
    if errors:
        return _tokens_page(errors=errors, status=422)
    try:
        issued = gate().accounts.create_token(
            form.get("name", ""), form.getlist("scope"), current_principal().actor(), expires
        )
    except Invalid as exc:
        return _tokens_page(errors=exc.errors, status=422)
    except Conflict as exc:  # the name is taken: said beside the name box
        return _tokens_page(errors=[{"field": "name", "message": exc.detail}], status=409)
    return _tokens_page(issued=issued, status=201)


@bp.post("/tokens/<name>/revoke")
@requires(Action.MANAGE_ACCESS)
def revoke_token(name: str) -> ResponseReturnValue:
    gate().accounts.revoke_token(name, by=current_principal().actor())
    flash(f"Revoked token {name}.")
    return redirect(url_for(".tokens"))
