"""Dependencies: the service object lives on the FastAPI app's state."""

from __future__ import annotations

from fastapi import Request

from jobs.services.jobs import JobService
from webapp.settings import WebSettings


def public_url(request: Request, path: str) -> str:
    """``path`` under the configured public base URL (BEATKEEPER_PUBLIC_URL), never under the
    request's Host header, which a client chooses."""
    settings: WebSettings = request.app.state.settings
    return settings.url(path)


def next_page(request: Request, **params: str | int) -> str:
    """A ``Link: <...>; rel="next"`` header value: this request's path and query with
    ``params`` replaced, under the public base URL."""
    following = request.url.include_query_params(**params)
    return f'<{public_url(request, following.path)}?{following.query}>; rel="next"'


async def get_service(request: Request) -> JobService:
    # async: a plain def dependency would cost a threadpool hop on every request.
    service: JobService = request.app.state.service
    return service
