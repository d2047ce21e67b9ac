"""One ASGI application: FastAPI serves /api (docs at /api/docs); Flask serves the rest.

Run it with ``uvicorn --factory webapp.asgi:create_app``.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from a2wsgi import WSGIMiddleware
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from jobs.celery_app import BeatkeeperCelery
from jobs.enqueue import Enqueuer
from jobs.factory import create_celery_app
from jobs.services.deadletters import DeadLetterService
from jobs.services.jobs import JobService
from jobs.services.run_actions import RunActions
from jobs.services.schedules import ScheduleManager
from jobs.store.audit import AuditLog
from webapp.api import errors, health, links, router
from webapp.api.docs import install_docs
from webapp.api.errors import error_response
from webapp.api.monitoring import install_monitoring
from webapp.auth import api as auth_api
from webapp.auth.accounts import Accounts
from webapp.auth.api import allow
from webapp.auth.gate import Gate
from webapp.auth.origin import origin_key
from webapp.auth.permissions import Action
from webapp.auth.ui import session_reader
from webapp.http_guards import BodyLimit, SecurityHeaders, TrustedHosts
from webapp.ratelimits import rate_limits_of
from webapp.settings import WebSettings
from webapp.ui import create_app as create_flask_app

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ANY_METHOD = sorted(WRITE_METHODS | {"GET", "HEAD", "OPTIONS", "TRACE", "QUERY"})


class SameOriginAPI:
    """Refuse cross-site writes to the JSON API.

    A browser names the page that sent a request in ``Origin``; a POST, PUT, PATCH or DELETE
    under /api from an origin (scheme, host and port) other than the configured public URL's
    (BEATKEEPER_PUBLIC_URL; in development also its loopback spellings) gets a 403 before
    anything runs. The Host header plays no part: a DNS-rebinding page sends its own.
    Requests without ``Origin`` (curl, server to server) pass; the UI has its own CSRF tokens.
    """

    def __init__(self, app: ASGIApp, origins: frozenset[tuple[str, str, int | None]]) -> None:
        self.app, self.origins = app, origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in WRITE_METHODS:
            path: str = scope["path"]
            root: str = scope.get("root_path", "")
            if root and path.startswith(root):
                path = path[len(root) :]
            origin = Request(scope).headers.get("origin")
            api = path == "/api" or path.startswith("/api/")
            if api and origin is not None and origin_key(origin) not in self.origins:
                refused = error_response(403, "cross-origin request refused")
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


def own_origins(settings: WebSettings) -> frozenset[tuple[str, str, int | None]]:
    """The origins whose pages may write to the API: the public URL's, and in development
    the same scheme and port on every loopback name."""
    own = origin_key(settings.base_url)
    if own is None:
        return frozenset()
    scheme, _, port = own
    local = ("127.0.0.1", "localhost", "::1") if settings.jobs.broker.is_local else ()
    return frozenset({own, *((scheme, name, port) for name in local)})


def create_app(
    settings: WebSettings | None = None, celery_app: BeatkeeperCelery | None = None
) -> FastAPI:
    """Build the web application; the enqueuer (one broker connection) lives as long as it."""
    settings = settings or WebSettings.from_env()
    celery_app = celery_app or create_celery_app(settings.jobs)
    enqueuer = Enqueuer(celery_app)
    service = JobService(celery_app, enqueuer)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        enqueuer.start()
        monitoring.start()
        # Start-up objects live as long as the process: keeping them out of full garbage
        # collections removes pauses of tens of milliseconds from request latency.
        gc.collect()
        gc.freeze()
        yield
        await run_in_threadpool(monitoring.stop)
        await run_in_threadpool(enqueuer.stop)

    api = FastAPI(
        title="Beatkeeper",
        summary="Background and periodic jobs on Celery and RabbitMQ",
        docs_url=None,  # webapp/api/docs.py serves it with local assets
        openapi_url=None,  # webapp/api/docs.py serves it to those who may read
        redoc_url=None,
        lifespan=lifespan,
    )
    api.state.service = service
    api.state.schedules = ScheduleManager(celery_app, enqueuer)
    api.state.settings = settings
    api.state.deadletters = DeadLetterService(celery_app)
    api.state.run_actions = RunActions(celery_app, enqueuer, api.state.deadletters)
    api.state.audit = AuditLog(celery_app.store.engine)
    api.state.gate = gate = Gate(
        Accounts(celery_app.store.engine),
        settings.auth_required,
        login_failures_per_minute=settings.login_failures_per_minute,
    )
    api.state.rate_limits = rate_limits_of(settings)
    api.state.origins = origins = own_origins(settings)
    api.add_middleware(SameOriginAPI, origins=origins)
    # Added last, so they run first: hosts, then the body's size; headers on every answer.
    api.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    api.add_middleware(TrustedHosts, allowed=settings.hosts)
    api.add_middleware(SecurityHeaders)
    errors.install(api)
    auth_api.install(api)
    links.install(api)
    # /api routes first: the Flask mount at "/" would otherwise catch them.
    api.include_router(router, prefix="/api")
    api.include_router(health.liveness)
    install_docs(api)

    flask_app = create_flask_app(
        settings=settings,
        service=service,
        schedules=api.state.schedules,
        deadletters=api.state.deadletters,
        run_actions=api.state.run_actions,
        rate_limits=api.state.rate_limits,
        gate=gate,
    )
    gate.read_session = session_reader(flask_app)
    api.state.flask_app = flask_app
    # a2wsgi's WSGIMiddleware is an ASGI app; its hints do not match Starlette's ASGIApp protocol.
    monitoring = install_monitoring(api, flask_app, celery_app)

    # Anything else under /api is a JSON 404 (or 405 with Allow for a path served with other
    # methods) in the one error shape, not a Flask page. Keep it the last /api route: a route
    # added after it would never be reached. It needs the read permission, so without
    # credentials it says nothing about what exists.
    @api.api_route(
        "/api/{rest:path}",
        methods=ANY_METHOD,
        include_in_schema=False,
        dependencies=[allow(Action.READ)],
    )
    async def no_such_route(rest: str, request: Request) -> JSONResponse:
        allowed = [
            method
            for method in sorted(WRITE_METHODS | {"GET"})
            if any(
                route.matches({**request.scope, "method": method})[0] == Match.FULL
                for route in api.router.routes[:-2]  # not this catch-all, nor the Flask mount
            )
        ]
        if allowed:
            refused = error_response(405, f"{request.method} not allowed; use {', '.join(allowed)}")
            refused.headers["Allow"] = ", ".join(allowed)
            return refused
        return error_response(404, f"no API route /api/{rest}")

    api.mount("/", WSGIMiddleware(flask_app))  # type: ignore[arg-type]
    return api
