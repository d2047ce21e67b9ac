"""Errors to HTTP, once: routes raise ``BeatkeeperError``s and return models only.

Every error answer has the same body, ``{"detail": "...", "errors": [{"field", "message"}]}``
(``ErrorOut``), built by :func:`error_response` and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from jobs.errors import BeatkeeperError, Conflict, Invalid, NotFound, Unavailable
from webapp.api.schemas import ErrorOut

STATUS: tuple[tuple[type[BeatkeeperError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (Invalid, 422),
    (Unavailable, 503),
)
# What each route may answer besides success, for the OpenAPI description.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut} for _, status in STATUS
}


def status_of(exc: BeatkeeperError) -> int:
    # An error outside the four kinds is a fault of ours, not of the request.
    return next((status for kind, status in STATUS if isinstance(exc, kind)), 500)


def error_response(
    status: int, detail: str, errors: Iterable[Mapping[str, str]] = ()
) -> JSONResponse:
    body = ErrorOut.model_validate({"detail": detail, "errors": list(errors)})
    return JSONResponse(status_code=status, content=body.model_dump())


async def beatkeeper_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BeatkeeperError)  # registered for that class only
    return error_response(status_of(exc), exc.detail, exc.errors)


def install(api: FastAPI) -> None:
    """Register the handlers on the application (routers cannot carry handlers)."""
    api.add_exception_handler(BeatkeeperError, beatkeeper_error)
