"""``beatkeeper schedules pause|resume|delete|reset|run|backfill``: actions on one schedule."""

from __future__ import annotations

from datetime import datetime

import click

from webapp.cli_common import _jobs_settings, cli_actor
from webapp.cli_schedules import BY_HELP, _next_fire, _schedule_manager, schedules


@schedules.command("pause")
@click.argument("name")
@click.option("--by", default=None, help=BY_HELP)
@click.option("--reason", default=None, help="why (kept with the schedule)")
def schedules_pause(name: str, by: str | None, reason: str | None) -> None:
    """Stop NAME from firing; fires already handed to the broker ahead of time are cancelled."""
    _schedule_manager().pause(name, cli_actor(by), reason)
    click.echo(f"paused {name}")


@schedules.command("resume")
@click.argument("name")
@click.option("--by", default=None, help=BY_HELP)
@click.option("--reason", default=None, help="why (kept with the schedule)")
def schedules_resume(name: str, by: str | None, reason: str | None) -> None:
    """Resume NAME from now: fires missed while it was paused are not sent."""
    record = _schedule_manager().resume(name, cli_actor(by), reason)
    click.echo(f"resumed {name}; next fire {_next_fire(record)}")


@schedules.command("delete")
@click.argument("name")
@click.option("--by", default=None, help=BY_HELP)
@click.option("--reason", default=None, help="why")
def schedules_delete(name: str, by: str | None, reason: str | None) -> None:
    """Delete NAME; its runs stay in the history."""
    _schedule_manager().delete(name, cli_actor(by), reason)
    click.echo(f"deleted {name}")


@schedules.command("reset")
@click.argument("name")
@click.option("--by", default=None, help=BY_HELP)
def schedules_reset(name: str, by: str | None) -> None:
    """Make NAME, declared in code, follow its code definition again (undoes runtime edits)."""
    record = _schedule_manager().reset(name, cli_actor(by))
    click.echo(f"reset {name} to its code definition; next fire {_next_fire(record)}")


@schedules.command("run")
@click.argument("name")
def schedules_run(name: str) -> None:
    """Send one run of NAME now, outside its timetable; prints the run id."""
    from jobs.enqueue import Enqueuer
    from jobs.factory import create_celery_app

    app = create_celery_app(_jobs_settings())
    enqueuer = Enqueuer(app)
    try:
        run = _schedule_manager(enqueuer, app).run_now(name)
    finally:
        enqueuer.stop()
    click.echo(run.id)


@schedules.command("backfill")
@click.argument("name")
@click.option("--start", required=True, metavar="ISO", help="first time, with a UTC offset")
@click.option("--end", required=True, metavar="ISO", help="last time, with a UTC offset")
def schedules_backfill(name: str, start: str, end: str) -> None:
    """Send every fire of NAME in [START, END] that was never sent (at most 1000).

    Prints one run id per line; running it again sends nothing twice."""
    from jobs.enqueue import Enqueuer
    from jobs.factory import create_celery_app
    from jobs.services.schedules import ScheduleError

    times: dict[str, datetime] = {}
    errors = []
    for field, raw in (("start", start), ("end", end)):
        try:
            times[field] = datetime.fromisoformat(raw)
        except ValueError:
            errors.append({"field": field, "message": "not an ISO 8601 date and time"})
        else:
            if times[field].tzinfo is None:
                errors.append({"field": field, "message": "give the time with a UTC offset"})
    app = create_celery_app(_jobs_settings())
    enqueuer = Enqueuer(app)
    try:
        if errors:
            raise ScheduleError(errors)
        sent = _schedule_manager(enqueuer, app).backfill(name, times["start"], times["end"])
    finally:
        enqueuer.stop()
    for new_run in sent:
        scheduled = new_run.scheduled_for.isoformat() if new_run.scheduled_for else ""
        click.echo(f"{new_run.id} {scheduled}")
    click.echo(f"sent {len(sent)} fire{'' if len(sent) == 1 else 's'}", err=True)
