"""``beatkeeper schedules ...``: list, show, create, edit, pause, resume, delete, run, backfill."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from webapp.cli_common import Commands, _jobs_settings

if TYPE_CHECKING:
    from jobs.celery_app import BeatkeeperCelery
    from jobs.enqueue import Enqueuer
    from jobs.services.schedules import ScheduleManager


@click.group(cls=Commands)
def schedules() -> None:
    """Schedules: list, show, create, edit, pause, resume, delete, run now, backfill."""


def _schedule_manager(
    enqueuer: Enqueuer | None = None, app: BeatkeeperCelery | None = None
) -> ScheduleManager:
    from jobs.factory import create_celery_app
    from jobs.services.schedules import ScheduleManager

    return ScheduleManager(app or create_celery_app(_jobs_settings()), enqueuer)


def _schedule_options(command: Callable[..., None]) -> Callable[..., None]:
    """The definition options shared by ``create`` and ``edit``; unset ones are None."""
    options = [
        click.option("--job", metavar="JOB", help="registered job name"),
        click.option("--cron", metavar="EXPR", help="cron expression, read in --timezone"),
        click.option("--every", "interval", type=int, metavar="SECONDS", help="fixed interval"),
        click.option(
            "--at",
            "run_at",
            metavar="ISO",
            help="run once at this time; without a UTC offset it is read in --timezone",
        ),
        click.option("--timezone", metavar="TZ", help="IANA zone, e.g. Europe/Paris (default UTC)"),
        click.option("--kwargs", "kwargs_json", metavar="JSON", help="arguments as a JSON object"),
        click.option("--queue", metavar="Q", help="short queue name; '' for the job's default"),
        click.option("--expires", type=int, metavar="S", help="drop a fire not started within S"),
        click.option("--jitter", type=int, metavar="S", help="spread fires by up to S seconds"),
        click.option("--grace", type=int, metavar="S", help="late S seconds past a due fire"),
        click.option("--catch-up", metavar="skip|latest|all", help="fires missed while down"),
        click.option("--catch-up-window", type=int, metavar="S", help="catch up at most S back"),
        click.option("--overlap", metavar="allow|skip|buffer_one", help="previous run unfinished"),
        click.option("--by", default="cli", show_default=True, help="who makes the change"),
        click.option("--reason", default=None, help="why (kept with the schedule)"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _schedule_changes(
    options: dict[str, Any], current_timezone: str = "UTC"
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Definition fields from the given options only, and the errors of those that do not
    parse (named after the field, as the manager names its own)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    errors: list[dict[str, str]] = []
    changes: dict[str, Any] = {}
    triggers = [k for k in ("cron", "interval", "run_at") if options[k] is not None]
    if len(triggers) > 1:
        errors.append({"field": "trigger", "message": "give only one of --cron, --every, --at"})
    cleared = {"cron": None, "interval_seconds": None, "run_at": None}
    if options["cron"] is not None:
        changes.update(cleared, trigger="cron", cron=options["cron"])
    if options["interval"] is not None:
        changes.update(cleared, trigger="interval", interval_seconds=options["interval"])
    timezone = options["timezone"] or current_timezone
    zone: ZoneInfo | None = None
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        errors.append({"field": "timezone", "message": f"unknown IANA time zone {timezone!r}"})
    if options["timezone"] is not None:
        changes["timezone"] = options["timezone"]
    if options["run_at"] is not None:
        try:
            run_at = datetime.fromisoformat(options["run_at"])
        except ValueError:
            errors.append({"field": "run_at", "message": "not an ISO 8601 date and time"})
        else:
            if run_at.tzinfo is None and zone is not None:
                run_at = run_at.replace(tzinfo=zone)
            changes.update(cleared, trigger="once", run_at=run_at)
    if options["kwargs_json"] is not None:
        try:
            kwargs = json.loads(options["kwargs_json"], parse_constant=_reject_constant)
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            errors.append({"field": "kwargs", "message": f"not valid JSON: {exc}"})
        else:
            if isinstance(kwargs, dict):
                changes["kwargs"] = kwargs
            else:
                errors.append({"field": "kwargs", "message": "must be a JSON object"})
    plain = {
        "job": "job",
        "expires": "expires_seconds",
        "jitter": "jitter_seconds",
        "grace": "grace_seconds",
        "catch_up": "catch_up",
        "catch_up_window": "catch_up_window_seconds",
        "overlap": "overlap",
    }
    changes.update({field: options[o] for o, field in plain.items() if options[o] is not None})
    if options["queue"] is not None:
        changes["queue"] = options["queue"] or None
    return changes, errors


def _reject_constant(value: str) -> Any:
    raise ValueError(f"{value} is not allowed in JSON")


def _trigger_text(record: Any) -> str:
    if record.trigger == "cron":
        return f"cron {record.cron}"
    if record.trigger == "interval":
        return f"every {record.interval_seconds}s"
    at = record.run_at.isoformat() if record.run_at else "?"
    return f"once at {at}"


@schedules.command("list")
def schedules_list() -> None:
    """One line per schedule: health, last outcome, job, trigger, timezone, next fire (UTC)
    counts of fires that happened, and the trigger in plain language."""
    from jobs.schedules.cron_describe import describe_stored

    now = datetime.now(UTC)
    manager = _schedule_manager()
    records = manager.page()
    statuses = manager.statuses(records)
    for r in records:
        status = statuses[r.name]
        next_fire = r.next_fire_at.isoformat() if r.next_fire_at else "-"
        click.echo(
            f"{r.name:24} {status.health.state:8} {status.last_outcome or '-':8} {r.job:16} "
            f"{_trigger_text(r):28} {r.timezone:16} next={next_fire} fired={status.fired} "
            f"skipped={r.skipped_count} missed={r.missed_count}  "
            f"# {describe_stored(r.build_trigger, now)[0]}"
        )


@schedules.command("show")
@click.argument("name")
def schedules_show(name: str) -> None:
    """One schedule as JSON, with its next 10 fire times (its timezone and UTC) and last runs."""
    from webapp.api.schedule_schemas import ScheduleDetailOut

    detail = _schedule_manager().detail(name)
    click.echo(ScheduleDetailOut.of_detail(detail).model_dump_json(indent=2))


@schedules.command("create")
@click.argument("name")
@_schedule_options
@click.option("--paused", is_flag=True, help="create it paused")
def schedules_create(name: str, paused: bool, by: str, reason: str | None, **options: Any) -> None:
    """Create schedule NAME: --job and one of --cron, --every or --at are required."""
    from jobs.schedules.definition import ScheduleDefinition
    from jobs.services.schedules import ScheduleError

    fields, errors = _schedule_changes(options)
    if "job" not in fields:
        errors.append({"field": "job", "message": "required (--job)"})
    if not any(options[k] is not None for k in ("cron", "interval", "run_at")):
        errors.append({"field": "trigger", "message": "give one of --cron, --every, --at"})
    if errors:
        raise ScheduleError(errors)
    definition = ScheduleDefinition(name=name, enabled=not paused, **fields)
    record = _schedule_manager().create(definition, by, reason)
    click.echo(f"created {record.name}; next fire {_next_fire(record)}")


def _next_fire(record: Any) -> str:
    return record.next_fire_at.isoformat() if record.next_fire_at else "none"


@schedules.command("edit")
@click.argument("name")
@_schedule_options
def schedules_edit(name: str, by: str, reason: str | None, **options: Any) -> None:
    """Change the given options of schedule NAME; the rest stay as they are."""
    from jobs.services.schedules import ScheduleError

    manager = _schedule_manager()
    current = manager.get(name)
    changes, errors = _schedule_changes(options, current.timezone)
    if errors:
        raise ScheduleError(errors)
    if not changes:
        click.echo(f"nothing to change in {name}; give at least one option", err=True)
        return
    record = manager.update(name, changes, by, reason)
    click.echo(f"saved {record.name} (version {record.version}); next fire {_next_fire(record)}")


@schedules.command("pause")
@click.argument("name")
@click.option("--by", default="cli", show_default=True, help="who makes the change")
@click.option("--reason", default=None, help="why (kept with the schedule)")
def schedules_pause(name: str, by: str, reason: str | None) -> None:
    """Stop NAME from firing; fires already handed to the broker ahead of time are cancelled."""
    _schedule_manager().pause(name, by, reason)
    click.echo(f"paused {name}")


@schedules.command("resume")
@click.argument("name")
@click.option("--by", default="cli", show_default=True, help="who makes the change")
@click.option("--reason", default=None, help="why (kept with the schedule)")
def schedules_resume(name: str, by: str, reason: str | None) -> None:
    """Resume NAME from now: fires missed while it was paused are not sent."""
    record = _schedule_manager().resume(name, by, reason)
    click.echo(f"resumed {name}; next fire {_next_fire(record)}")


@schedules.command("delete")
@click.argument("name")
@click.option("--by", default="cli", show_default=True, help="who makes the change")
@click.option("--reason", default=None, help="why")
def schedules_delete(name: str, by: str, reason: str | None) -> None:
    """Delete NAME; its runs stay in the history."""
    _schedule_manager().delete(name, by, reason)
    click.echo(f"deleted {name}")


@schedules.command("reset")
@click.argument("name")
@click.option("--by", default="cli", show_default=True, help="who makes the change")
def schedules_reset(name: str, by: str) -> None:
    """Make NAME, declared in code, follow its code definition again (undoes runtime edits)."""
    record = _schedule_manager().reset(name, by)
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
