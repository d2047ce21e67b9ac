"""``beatkeeper schedules``: the CLI over the schedule manager (no broker reachable)."""

from __future__ import annotations

import getpass
import json

import pytest
from click.testing import CliRunner, Result

from tests.conftest import settings_env
from webapp.cli import main

# Who the audit log and the schedule name for a change made here: the OS user, not --by.
ME = f"cli:{getpass.getuser()}"


@pytest.fixture
def cli(free_sqlite_url: str) -> CliRunner:
    return CliRunner(
        env=settings_env("bk-sched-cli", free_sqlite_url, "amqp://guest:guest@127.0.0.1:1//")
    )


def schedules(cli: CliRunner, *args: str) -> Result:
    return cli.invoke(main, ["schedules", *args])


def names(cli: CliRunner) -> list[str]:
    listing = schedules(cli, "list")
    assert listing.exit_code == 0, listing.output
    return [line.split()[0] for line in listing.stdout.splitlines()]


def show(cli: CliRunner, name: str) -> dict[str, object]:
    shown = schedules(cli, "show", name)
    assert shown.exit_code == 0, shown.output
    detail: dict[str, object] = json.loads(shown.stdout)
    return detail


def test_schedules_can_be_created_listed_shown_edited_paused_resumed_and_deleted(
    cli: CliRunner,
) -> None:
    created = schedules(
        cli,
        *("create", "nightly", "--job", "runs_report", "--cron", "0 9 * * *"),
        *("--timezone", "Europe/Paris", "--kwargs", '{"hours": 2}', "--jitter", "30"),
        *("--by", "alice", "--reason", "first cut"),
    )
    assert created.exit_code == 0, created.output
    assert names(cli) == ["nightly"]
    assert "cron 0 9 * * *" in schedules(cli, "list").stdout

    detail = show(cli, "nightly")
    assert detail["kwargs"] == {"hours": 2} and detail["timezone"] == "Europe/Paris"
    assert (detail["changed_by"], detail["change_reason"]) == (
        f"{ME} (claimed: alice)",
        "first cut",
    )
    upcoming = detail["upcoming"]
    assert isinstance(upcoming, list) and len(upcoming) == 10
    assert all("T09:00:00+0" in fire["local"] for fire in upcoming)

    edited = schedules(cli, "edit", "nightly", "--every", "600", "--by", "bob")
    assert edited.exit_code == 0, edited.output
    detail = show(cli, "nightly")
    assert (detail["trigger"], detail["interval_seconds"], detail["cron"]) == (
        "interval",
        600,
        None,
    )
    assert detail["kwargs"] == {"hours": 2} and detail["jitter_seconds"] == 30, "the rest stays"
    assert detail["timezone"] == "Europe/Paris" and detail["changed_by"] == f"{ME} (claimed: bob)"

    paused = schedules(cli, "pause", "nightly", "--by", "carol", "--reason", "maintenance")
    assert paused.exit_code == 0, paused.output
    detail = show(cli, "nightly")
    assert (detail["enabled"], detail["upcoming"]) == (False, [])
    assert (detail["changed_by"], detail["change_reason"]) == (
        f"{ME} (claimed: carol)",
        "maintenance",
    )
    assert " paused " in schedules(cli, "list").stdout

    resumed = schedules(cli, "resume", "nightly")
    assert resumed.exit_code == 0, resumed.output
    detail = show(cli, "nightly")
    assert detail["enabled"] is True and detail["next_fire_at"] is not None

    deleted = schedules(cli, "delete", "nightly")
    assert deleted.exit_code == 0, deleted.output
    assert names(cli) == []


def test_a_schedule_can_be_created_paused_or_once_at_a_wall_time_in_its_timezone(
    cli: CliRunner,
) -> None:
    created = schedules(
        cli,
        *("create", "once", "--job", "runs_report", "--at", "2031-01-15T09:30"),
        *("--timezone", "Europe/Paris", "--paused"),
    )

    assert created.exit_code == 0, created.output
    detail = show(cli, "once")
    assert detail["run_at"] == "2031-01-15T08:30:00Z" and detail["enabled"] is False


def test_invalid_input_exits_2_naming_each_field_and_stores_nothing(cli: CliRunner) -> None:
    create = ("create", "nightly", "--job", "runs_report")

    bad_cron = schedules(cli, *create, "--cron", "61 * * * *", "--kwargs", '{"hours": 0}')
    bad_json = schedules(cli, *create, "--every", "60", "--kwargs", "{nope")
    negative = schedules(cli, *create, "--every", "-5")
    bad_zone = schedules(cli, *create, "--every", "60", "--timezone", "Mars/Base")
    no_trigger = schedules(cli, "create", "nightly")
    two_triggers = schedules(cli, *create, "--every", "60", "--cron", "* * * * *")

    assert bad_cron.exit_code == 2
    assert "error: cron: " in bad_cron.stderr and "error: kwargs.hours: " in bad_cron.stderr
    assert bad_json.exit_code == 2 and "error: kwargs: not valid JSON" in bad_json.stderr
    assert negative.exit_code == 2 and "error: interval" in negative.stderr
    assert bad_zone.exit_code == 2 and "error: timezone: " in bad_zone.stderr
    assert no_trigger.exit_code == 2
    assert "error: job: " in no_trigger.stderr and "error: trigger: " in no_trigger.stderr
    assert two_triggers.exit_code == 2 and "error: trigger: " in two_triggers.stderr
    assert names(cli) == []


def test_an_invalid_edit_exits_2_and_changes_nothing(cli: CliRunner) -> None:
    assert (
        schedules(cli, "create", "nightly", "--job", "runs_report", "--every", "60").exit_code == 0
    )

    edited = schedules(cli, "edit", "nightly", "--every", "0", "--overlap", "sometimes")

    assert edited.exit_code == 2
    assert "error: interval" in edited.stderr and "error: overlap: " in edited.stderr
    detail = show(cli, "nightly")
    assert (detail["interval_seconds"], detail["overlap"], detail["changed_by"]) == (
        60,
        "allow",
        ME,
    )


def test_an_unknown_schedule_exits_1_and_an_existing_name_cannot_be_created_again(
    cli: CliRunner,
) -> None:
    for args in (("show", "nope"), ("pause", "nope"), ("resume", "nope"), ("delete", "nope")):
        result = schedules(cli, *args)
        assert result.exit_code == 1, args
        assert result.stderr == "error: no schedule 'nope'\n"
    assert schedules(cli, "edit", "nope", "--every", "60").exit_code == 1
    create = ("create", "nightly", "--job", "runs_report", "--every", "60")
    assert schedules(cli, *create).exit_code == 0

    again = schedules(cli, *create)

    assert again.exit_code == 1 and "already exists" in again.stderr
