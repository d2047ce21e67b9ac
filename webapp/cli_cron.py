"""``beatkeeper schedules check-cron``: stored cron schedules whose fires change with the
Vixie day-field rule (run it before upgrading a deployment; it changes nothing)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click

from webapp.cli_schedules import _schedule_manager, schedules


@schedules.command("check-cron")
def check_cron() -> None:
    """List cron schedules whose fire days differ under Vixie's day-field rule; exit 1 if any."""
    from jobs.schedules.cron_migration import day_rule_change

    manager = _schedule_manager()
    now = datetime.now(UTC)
    changed = checked = 0
    offset = 0
    while page := manager.page(1000, offset):
        offset += len(page)
        for record in page:
            if record.trigger != "cron" or not record.cron:
                continue
            checked += 1
            change = day_rule_change(record.cron, record.timezone, now)
            if change is None:
                continue
            changed += 1
            click.echo(f"{record.name}: '{record.cron}' ({record.timezone}) {change.problem}")
            if change.before or change.after:
                before = ", ".join(map(str, change.before)) or "none"
                after = ", ".join(map(str, change.after)) or "none"
                click.echo(f"  next days before: {before}; now: {after}")
    click.echo(f"{checked} cron schedules checked, {changed} fire differently", err=True)
    sys.exit(1 if changed else 0)
