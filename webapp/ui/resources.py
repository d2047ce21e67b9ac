"""The UI's resources, kept where Flask keeps an extension's: ``app.extensions``."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from jobs.services.deadletters import DeadLetterService
from jobs.services.jobs import JobService
from jobs.services.run_actions import RunActions
from jobs.services.schedules import ScheduleManager
from webapp.settings import WebSettings

EXTENSION = "beatkeeper"


@dataclass(frozen=True)
class UiResources:
    """What the pages call: settings, the job, schedule, dead-letter and run-action services."""

    settings: WebSettings
    jobs: JobService
    schedules: ScheduleManager
    deadletters: DeadLetterService
    run_actions: RunActions

    def install(self, app: Flask) -> None:
        app.extensions[EXTENSION] = self


def ui_resources(app: Flask | None = None) -> UiResources:
    """The resources of ``app`` (default: the app handling the current request)."""
    found = (app or current_app).extensions[EXTENSION]
    if not isinstance(found, UiResources):
        raise TypeError(f"app.extensions[{EXTENSION!r}] is not UiResources")
    return found
