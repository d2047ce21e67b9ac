"""What a running job may reach: the resources of the app that runs it."""

from __future__ import annotations

from celery import current_task

from jobs.settings import JobsSettings
from jobs.store import RunStore


class NotInAJobError(RuntimeError):
    """A runtime helper was called outside a running job."""


def _app() -> object:
    task = current_task
    if task is None or not getattr(task, "request", None) or task.request.id is None:
        raise NotInAJobError("jobs.runtime helpers work only inside a running job")
    return task.app


def current_store() -> RunStore:
    """The run store of the app running the current job."""
    store: RunStore = _app().store  # type: ignore[attr-defined]
    return store


def current_settings() -> JobsSettings:
    settings: JobsSettings = _app().settings  # type: ignore[attr-defined]
    return settings
