"""The migration check lists stored cron schedules whose fires change under Vixie's day rule."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from click.testing import CliRunner

from jobs.schedules.cron_migration import day_rule_change
from tests.conftest import settings_env
from webapp.cli import main

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "expr",
    ["0 9 * * *", "0 0 1 * *", "0 0 * * MON", "0 0 1-31 * *", "0 0 13 * FRI", "0 0 L * *"],
)
def test_expressions_that_fire_as_before_are_not_listed(expr: str) -> None:
    assert day_rule_change(expr, "UTC", NOW) is None


def test_both_day_fields_written_out_now_fire_every_day() -> None:
    change = day_rule_change("0 0 1 * 0-6", "America/New_York", NOW)
    assert change is not None
    assert change.problem == "fires on other days: either day field now matches"
    assert change.before == (date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1))
    assert change.after == (date(2026, 1, 1), date(2026, 1, 2), date(2026, 1, 3))


def test_a_star_step_day_field_now_requires_both_days() -> None:
    change = day_rule_change("0 0 */2 * 1", "Australia/Sydney", NOW)
    assert change is not None
    assert change.problem == "fires on other days: both day fields must match"
    # It is already 1 January 11:00 in Sydney: odd days or Mondays, then odd Mondays only.
    assert change.before == (date(2026, 1, 3), date(2026, 1, 5), date(2026, 1, 7))
    assert change.after == (date(2026, 1, 5), date(2026, 1, 19), date(2026, 2, 9))


def test_an_expression_the_new_rule_never_fires_is_reported_as_no_longer_accepted() -> None:
    change = day_rule_change("0 0 30 2 */2", "UTC", NOW)
    assert change is not None
    assert change.problem.startswith("no longer accepted: day-of-month '30' never occurs")


def test_check_cron_lists_only_the_stored_schedules_that_change(free_sqlite_url: str) -> None:
    cli = CliRunner(
        env=settings_env("bk-cron-check", free_sqlite_url, "amqp://guest:guest@127.0.0.1:1//")
    )
    for name, expr in (("daily", "0 9 * * *"), ("firsts", "0 0 1 * 0-6")):
        made = cli.invoke(
            main, ["schedules", "create", name, "--job", "runs_report", "--cron", expr]
        )
        assert made.exit_code == 0, made.output
    checked = cli.invoke(main, ["schedules", "check-cron"])
    assert checked.exit_code == 1, checked.output
    assert checked.stdout.splitlines()[0] == (
        "firsts: '0 0 1 * 0-6' (UTC) fires on other days: either day field now matches"
    )
    assert "daily" not in checked.stdout
    assert "2 cron schedules checked, 1 fire differently" in checked.stderr
