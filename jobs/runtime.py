"""What a running job may reach: the resources of the app that runs it."""

from __future__ import annotations

from celery import current_task

from jobs.celery_app import BeatkeeperCelery
from jobs.settings import JobsSettings
from jobs.store import RunStore


class NotInAJobError(RuntimeError):
    """A runtime helper was called outside a running job."""


def _app() -> BeatkeeperCelery:
    task = current_task
    if task is None or not getattr(task, "request", None) or task.request.id is None:
        raise NotInAJobError("jobs.runtime helpers work only inside a running job")
    app = task.app
    if not isinstance(app, BeatkeeperCelery):
        raise NotInAJobError("jobs.runtime helpers work only in an app made by create_celery_app")
    return app


def current_store() -> RunStore:
    """The run store of the app running the current job."""
    return _app().store


def current_settings() -> JobsSettings:
    """The settings of the app running the current job."""
    return _app().settings
