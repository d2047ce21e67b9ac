"""Errors to pages, once: views raise ``BeatkeeperError``s; this module shows them.

A view that can show errors beside its form names how with :func:`show_errors_with`; the
handler then re-renders that page with one message per field and the error's status
(NotFound 404, Conflict 409, Invalid 422, Unavailable 503). Without one, the message is
flashed on the page the request came from. A missing thing is the 404 page.

Templates put each message beside its field (``_fields.html``, grouped by :func:`by_field`)
with ``aria-invalid`` and ``aria-describedby``, and list them all in a summary above.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from flask import Flask, flash, g, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, ServiceUnavailable, TooManyRequests
from werkzeug.exceptions import NotFound as NotFoundPage

from jobs.errors import (
    BeatkeeperError,
    Conflict,
    FieldError,
    Invalid,
    NotFound,
    RateLimited,
    Unavailable,
)
from jobs.store.db import STORE_OUTAGES

log = logging.getLogger(__name__)

STATUS: tuple[tuple[type[BeatkeeperError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (Invalid, 422),
    (RateLimited, 429),
    (Unavailable, 503),
)
# The form field an error without field errors is shown against.
FIELD: tuple[tuple[type[BeatkeeperError], str], ...] = ((Unavailable, "broker"), (Conflict, "name"))
# Error fields that are shown against another box of the form.
SHOWN_ON = {"interval": "interval_seconds"}
Render = Callable[[Sequence[FieldError], int], ResponseReturnValue]


def status_of(exc: BeatkeeperError) -> int:
    return next((status for kind, status in STATUS if isinstance(exc, kind)), 500)


def messages(exc: BeatkeeperError) -> list[FieldError]:
    """One message per field; an error about no field in particular gets one line."""
    if exc.errors:
        return exc.errors
    field = next((name for kind, name in FIELD if isinstance(exc, kind)), "request")
    return [{"field": field, "message": exc.detail}]


def shown_beside(field: str) -> str:
    """The form field an error about ``field`` is shown beside (``kwargs.hours``: ``kwargs``)."""
    root = field.split(".")[0]
    return SHOWN_ON.get(root, root)


def by_field(errors: Sequence[FieldError]) -> dict[str, list[str]]:
    """Messages grouped by the form field they are shown beside, in the order they came."""
    grouped: dict[str, list[str]] = {}
    for error in errors:
        grouped.setdefault(shown_beside(error["field"]), []).append(error["message"])
    return grouped


def show_errors_with(render: Render) -> None:
    """Errors raised later in this request are shown by ``render(errors, status)``."""
    g.render_errors = render


def http_error_page(exc: HTTPException) -> ResponseReturnValue:
    """A 4xx or 5xx as a page of the site (menu, colours, dark mode) with its message, not
    Werkzeug's bare HTML: whoever lands there can go on from it. Headers such as
    ``Retry-After`` are kept."""
    code = exc.code or 500
    if code < 400:  # a routing redirect is an HTTPException too
        return exc
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    page = render_template("error.html", code=code, name=exc.name, message=exc.description)
    return page, code, headers


def store_unavailable(exc: Exception) -> ResponseReturnValue:
    """The store went away (refused, dropped, locked past its wait): a 503 page of the site
    saying so, not a 500; the driver's text (host, port) goes only to the log."""
    log.warning("%s %s: the store is unavailable: %s", request.method, request.path, exc)
    detail = f"The run store is unavailable ({type(exc).__name__}); try again in a moment."
    return http_error_page(ServiceUnavailable(detail, retry_after=5))


def _handle(exc: BeatkeeperError) -> ResponseReturnValue:
    if isinstance(exc, NotFound):
        return http_error_page(NotFoundPage(exc.detail))
    if isinstance(exc, RateLimited):
        return http_error_page(TooManyRequests(exc.detail, retry_after=exc.retry_after))
    render: Render | None = g.get("render_errors")
    if render is not None:
        return render(messages(exc), status_of(exc))
    for error in messages(exc):
        flash(f"{error['field']}: {error['message']}", "error")
    return redirect(request.referrer or url_for("pages.jobs"))


def install(app: Flask) -> None:
    app.register_error_handler(BeatkeeperError, _handle)
    app.register_error_handler(HTTPException, http_error_page)
    for outage in STORE_OUTAGES:
        app.register_error_handler(outage, store_unavailable)
    app.add_template_filter(by_field)
    app.add_template_filter(shown_beside)
