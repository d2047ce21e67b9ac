"""The Flask UI: server-rendered pages for jobs, the enqueue form, runs and schedules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask

from jobs.services.deadletters import DeadLetterService
from jobs.services.jobs import JobService
from jobs.services.run_actions import RunActions
from jobs.services.schedules import ScheduleManager
from webapp.auth import ui as auth_ui
from webapp.auth.accounts import Accounts
from webapp.auth.gate import Gate
from webapp.ratelimits import RateLimits, rate_limits_of
from webapp.settings import WebSettings
from webapp.ui.limiting import limit_writes
from webapp.ui.resources import UiResources


def create_app(
    test_config: dict[str, Any] | None = None,
    *,
    settings: WebSettings | None = None,
    service: JobService | None = None,
    schedules: ScheduleManager | None = None,
    deadletters: DeadLetterService | None = None,
    run_actions: RunActions | None = None,
    rate_limits: RateLimits | None = None,
    gate: Gate | None = None,
) -> Flask:
    """Flask application factory; ``service`` and ``schedules`` are shared with the API when
    mounted under it (one enqueuer, one broker connection)."""
    settings = settings or WebSettings.from_env()
    if service is None:
        from jobs.enqueue import Enqueuer
        from jobs.factory import create_celery_app

        celery_app = create_celery_app(settings.jobs)
        service = JobService(celery_app, Enqueuer(celery_app))
    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=settings.secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Werkzeug refuses a larger form with 413 while reading it (chunked bodies too).
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_hours),
    )
    if test_config:
        app.config.update(test_config)
    if schedules is None:
        schedules = ScheduleManager(service.app, service.enqueuer)
    deadletters = deadletters or DeadLetterService(service.app)
    UiResources(
        settings=settings,
        jobs=service,
        schedules=schedules,
        deadletters=deadletters,
        run_actions=run_actions or RunActions(service.app, service.enqueuer, deadletters),
    ).install(app)

    from webapp.ui import (
        access_pages,
        audit_pages,
        deadletter_pages,
        errors,
        formatting,
        pages,
        schedule_actions,
    )

    errors.install(app)
    if gate is None:
        gate = Gate(Accounts(service.store.engine), settings.auth_required)
    # Before limit_writes: hooks run in order, and the limits count per principal.
    auth_ui.install(app, gate)
    limit_writes(app, rate_limits or rate_limits_of(settings))
    formatting.install(app)
    app.register_blueprint(access_pages.bp)

    app.register_blueprint(pages.bp)
    # schedule_pages.bp, with the actions of schedule_actions added to it
    app.register_blueprint(schedule_actions.bp)
    app.register_blueprint(deadletter_pages.bp)
    app.register_blueprint(audit_pages.bp)
    return app
