"""Dependencies: the service object lives on the FastAPI app's state."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from jobs.services.jobs import JobService
from webapp.auth.api import current_principal
from webapp.auth.principal import Principal
from webapp.ratelimits import Limited, RateLimits
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


def requester(request: Request, principal: Principal) -> str:
    """Whom a request counts against: the signed-in user or token, else its client address
    (open development, where nobody signs in)."""
    if principal.authenticated:
        return f"{principal.kind}:{principal.name}"
    return request.client.host if request.client else "unknown"


def rate_limited(kind: Limited) -> Any:
    """A route dependency counting the request against its principal's ``kind`` limit."""

    async def check(
        request: Request, principal: Annotated[Principal, Depends(current_principal)]
    ) -> None:
        limits: RateLimits = request.app.state.rate_limits
        limits.hit(kind, requester(request, principal))

    return Depends(check)


async def get_service(request: Request) -> JobService:
    # async: a plain def dependency would cost a threadpool hop on every request.
    service: JobService = request.app.state.service
    return service


ENQUEUE_LIMIT = rate_limited(Limited.ENQUEUE)
SCHEDULE_LIMIT = rate_limited(Limited.SCHEDULES)
