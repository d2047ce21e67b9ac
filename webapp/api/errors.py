"""Errors to HTTP, once: routes raise ``BeatkeeperError``s and return models only.

Every error answer has the same body, ``{"detail": "...", "errors": [{"field", "message"}]}``
(``ErrorOut``), built by :func:`error_response` and nowhere else: FastAPI's own validation
errors (422, whose ``detail`` would be a list echoing the input) and Starlette's HTTP errors
(404 for an unknown path, 405, 400) are rewritten into it, and the OpenAPI document says so.
JSON bodies are read strictly (``jobs/jsontext.py``): NaN, Infinity, a number past Python's
digit limit or nesting deeper than 32 levels is a 422 naming ``body``. The store going away
(a refused or dropped connection, a lock that outlasted its wait) is a 503 on every route,
credential checks included, never a 500: the request is fine, a dependency is not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.responses import Response

from jobs import jsontext
from jobs.errors import BeatkeeperError, Conflict, Invalid, NotFound, RateLimited, Unavailable
from jobs.store.db import STORE_OUTAGES
from webapp.api.schemas import ErrorOut

log = logging.getLogger(__name__)

STATUS: tuple[tuple[type[BeatkeeperError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (Invalid, 422),
    (RateLimited, 429),
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
    response = error_response(status_of(exc), exc.detail, exc.errors)
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


# Where FastAPI found a parameter; the field is named without it ("queue", not "body.queue").
SOURCES = frozenset({"body", "query", "path", "header", "cookie"})


def field_name(loc: Sequence[int | str]) -> str:
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in SOURCES:
        parts = parts[1:]
    return ".".join(parts) or "body"


async def store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """503 naming the store; the driver's text (host, port) only goes to the log, since the
    caller may not even be authenticated yet."""
    log.warning("%s %s: the store is unavailable: %s", request.method, request.url.path, exc)
    return error_response(503, f"the run store is unavailable ({type(exc).__name__}); try again")


async def validation_error(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 in the one shape; the input is never echoed (it may not serialise)."""
    assert isinstance(exc, RequestValidationError)
    errors = []
    for problem in exc.errors():
        field, message = field_name(problem.get("loc", ())), str(problem.get("msg", "invalid"))
        if problem.get("type") == "json_invalid":  # loc holds the offset in the text
            field, message = "body", str(problem.get("ctx", {}).get("error", message))
        errors.append({"field": field, "message": message})
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
    return error_response(422, detail, errors)


async def http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    response = error_response(exc.status_code, str(exc.detail))
    response.headers.update(exc.headers or {})
    return response


JSON_TYPES = ("application/json",)


def _is_json(request: Request) -> bool:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return not kind or kind in JSON_TYPES or kind.endswith("+json")


class StrictJSONRoute(APIRoute):
    """Every API route reads its JSON body with ``jobs.jsontext``: a NaN is a 422 naming
    its field (``queue``, ``kwargs.hours``), deep nesting or a bad number one naming body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def strict(request: Request) -> Response:
            body = await request.body()
            if body and _is_json(request):
                try:
                    parsed = jsontext.loads(body)
                except jsontext.JSONTextError as exc:
                    field = exc.field or "body"
                    return error_response(
                        422, f"{field}: {exc}", [{"field": field, "message": str(exc)}]
                    )
                request._json = parsed  # Starlette's cache: FastAPI reads this, not the text again
            return await handler(request)

        return strict


def _error_schema_everywhere(document: dict[str, Any]) -> dict[str, Any]:
    """Point every 422 at ErrorOut and drop FastAPI's HTTPValidationError schemas."""
    ref = "#/components/schemas/ErrorOut"
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            answer = operation.get("responses", {}).get("422")
            if answer is not None:
                answer["content"] = {"application/json": {"schema": {"$ref": ref}}}
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas.setdefault("ErrorOut", ErrorOut.model_json_schema(ref_template=REF_TEMPLATE))
    schemas.setdefault(
        "FieldError", ErrorOut.model_json_schema(ref_template=REF_TEMPLATE)["$defs"]["FieldError"]
    )
    schemas["ErrorOut"].pop("$defs", None)
    return document


REF_TEMPLATE = "#/components/schemas/{model}"


def install(api: FastAPI) -> None:
    """Register the handlers on the application (routers cannot carry handlers) and the
    OpenAPI document that describes the one error shape."""
    api.router.route_class = StrictJSONRoute  # routes added with @api.get/post later
    api.add_exception_handler(BeatkeeperError, beatkeeper_error)
    api.add_exception_handler(RequestValidationError, validation_error)
    api.add_exception_handler(HTTPException, http_error)
    for outage in STORE_OUTAGES:
        api.add_exception_handler(outage, store_unavailable)

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            api.openapi_schema = _error_schema_everywhere(
                get_openapi(
                    title=api.title,
                    version=api.version,
                    summary=api.summary,
                    routes=api.routes,
                )
            )
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
