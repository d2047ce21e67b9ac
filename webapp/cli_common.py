"""Helpers shared by the ``beatkeeper`` commands."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import click


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _jobs_settings() -> Any:
    from jobs.settings import JobsSettings

    try:
        return JobsSettings.from_env()
    except (ValueError, RuntimeError) as exc:
        _fail(str(exc), 2)
