"""``beatkeeper beat status``: who leads the beat, since when, and its last evaluation."""

from __future__ import annotations

import json

import click

from webapp.cli_common import Commands, _jobs_settings


@click.group(cls=Commands)
def beat() -> None:
    """The running beat: which one leads."""


@beat.command("status")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def beat_status_command(as_json: bool) -> None:
    """Who leads, since when, and the last tick that evaluated schedules. Exit code 0 while
    a beat leads, 3 when none does (its lease ran out), 1 when the store cannot be read."""
    from jobs.services.health import beat_status
    from jobs.store import make_engine

    engine = make_engine(_jobs_settings().database_url)
    try:
        status = beat_status(engine)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(status.as_dict(), default=str))
    else:
        click.echo(status.line())
    if status.error is not None:
        raise SystemExit(1)
    if not status.alive:
        raise SystemExit(3)
