"""``beatkeeper schedules ...``: list, show, create, edit, pause, resume, delete, run, backfill."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from jobs.schedules.kinds import CatchUp, Overlap, TriggerKind
from webapp.cli_common import Commands, _jobs_settings, cli_actor

if TYPE_CHECKING:
    from jobs.celery_app import BeatkeeperCelery
    from jobs.enqueue import Enqueuer
    from jobs.services.schedules import ScheduleManager


# The audit log names the OS user (cli:alice): --by is kept only as a note beside it.
BY_HELP = "a name to note beside cli:USER in the audit log (who is recorded is the OS user)"


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
    """The definition options shared by ``create`` and ``edit``; unset ones are None. Values
    are read by the schedule input model, as the API's and the form's are."""
    options = [
        click.option("--job", metavar="JOB", help="registered job name"),
        click.option("--cron", metavar="EXPR", help="cron expression, read in --timezone"),
        click.option("--every", "interval", metavar="SECONDS", help="fixed interval"),
        click.option(
            "--at",
            "run_at",
            metavar="ISO",
            help="run once at this time; without a UTC offset it is read in --timezone",
        ),
        click.option(
            "--anchor",
            metavar="ISO",
            help="with --every: a time on the interval's grid (its phase); without a UTC offset "
            "it is read in --timezone",
        ),
        click.option("--timezone", metavar="TZ", help="IANA zone, e.g. Europe/Paris (default UTC)"),
        click.option("--kwargs", "kwargs_json", metavar="JSON", help="arguments as a JSON object"),
        click.option("--queue", metavar="Q", help="short queue name; '' for the job's default"),
        click.option("--expires", metavar="S", help="drop a fire not started within S"),
        click.option("--jitter", metavar="S", help="spread fires by up to S seconds"),
        click.option("--grace", metavar="S", help="late S seconds past a due fire"),
        click.option("--catch-up", metavar="|".join(CatchUp), help="fires missed while down"),
        click.option("--catch-up-window", metavar="S", help="catch up at most S back"),
        click.option("--overlap", metavar="|".join(Overlap), help="previous run unfinished"),
        click.option("--by", default=None, help=BY_HELP),
        click.option("--reason", default=None, help="why (kept with the schedule)"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


# Option name -> schedule field.
FIELD_OF = {
    "job": "job",
    "cron": "cron",
    "interval": "interval_seconds",
    "run_at": "run_at",
    "anchor": "anchor",
    "timezone": "timezone",
    "kwargs_json": "kwargs",
    "queue": "queue",
    "expires": "expires_seconds",
    "jitter": "jitter_seconds",
    "grace": "grace_seconds",
    "catch_up": "catch_up",
    "catch_up_window": "catch_up_window_seconds",
    "overlap": "overlap",
    "by": "changed_by",
    "reason": "reason",
}
TRIGGER_OF = {
    "cron": TriggerKind.CRON,
    "interval_seconds": TriggerKind.INTERVAL,
    "run_at": TriggerKind.ONCE,
}


def _schedule_changes(options: dict[str, Any], **fixed: Any) -> Any:
    """A ScheduleInput of the given options only (plus ``fixed`` fields, e.g. the name).

    Choosing a trigger (--cron, --every or --at) sets the trigger (the model clears the
    other two fields).
    """
    from jobs.schedules.inputs import ScheduleInput

    raw = {field: options[o] for o, field in FIELD_OF.items() if options.get(o) is not None}
    chosen = [f for f in TRIGGER_OF if f in raw]
    if len(chosen) == 1:
        raw["trigger"] = TRIGGER_OF[chosen[0]]
    else:
        for f in chosen:
            del raw[f]
    given = ScheduleInput.read({**raw, **fixed})
    if len(chosen) > 1:
        given.refuse("trigger", "give only one of --cron, --every, --at")
    return given


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
        next_fire = status.next_fire_at.isoformat() if status.next_fire_at else "-"
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
def schedules_create(name: str, paused: bool, **options: Any) -> None:
    """Create schedule NAME: --job and one of --cron, --every or --at are required."""
    given = _schedule_changes(options, name=name, enabled=not paused)
    record = _schedule_manager().create(given, cli_actor(given.changed_by), given.reason)
    click.echo(f"created {record.name}; next fire {_next_fire(record)}")


def _next_fire(record: Any) -> str:
    return record.next_fire_at.isoformat() if record.next_fire_at else "none"


@schedules.command("edit")
@click.argument("name")
@_schedule_options
def schedules_edit(name: str, **options: Any) -> None:
    """Change the given options of schedule NAME; the rest stay as they are."""
    given = _schedule_changes(options)
    if not given.given() and not given.errors:
        click.echo(f"nothing to change in {name}; give at least one option", err=True)
        return
    record = _schedule_manager().update(name, given, cli_actor(given.changed_by), given.reason)
    click.echo(f"saved {record.name} (version {record.version}); next fire {_next_fire(record)}")


# Modules that add their commands to the group (imported last: they import it).
from webapp import cli_schedule_actions, cli_schedule_bulk  # noqa: E402, F401
