"""``beatkeeper schedules import FILE`` and ``export [FILE]``: schedules in bulk."""

from __future__ import annotations

from typing import TextIO

import click

from webapp.cli_common import cli_actor
from webapp.cli_schedules import BY_HELP, _schedule_manager, schedules


@schedules.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--by", "changed_by", default=None, help=BY_HELP)
@click.option("--reason", default=None, help="why")
def schedules_import(file: TextIO, changed_by: str | None, reason: str | None) -> None:
    """Create every schedule in FILE (JSON lines or a JSON array; - for stdin), or none:
    each bad line is reported with its number and field, and the exit code is 2."""
    from jobs.services.schedule_import import import_schedules

    count = import_schedules(_schedule_manager(), file.read(), cli_actor(changed_by), reason)
    click.echo(f"imported {count} schedules")


@schedules.command("export")
@click.argument("file", type=click.File("w", encoding="utf-8"), default="-")
def schedules_export(file: TextIO) -> None:
    """Every schedule as JSON lines (to FILE, default stdout), in the format import reads."""
    from jobs.services.schedule_import import export_lines

    for line in export_lines(_schedule_manager()):
        file.write(line + "\n")
