"""Bounds on every stored schedule value, and the first fire still to be sent after an edit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from jobs.factory import load_registry
from jobs.schedules.definition import (
    ScheduleDefinition,
    ScheduleError,
    fire_time,
    next_nominal,
)
from jobs.schedules.jitter import jitter_offset
from jobs.schedules.triggers import CronTrigger, IntervalTrigger, OnceTrigger
from jobs.schedules.validation import validate

NOW = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
REGISTRY = load_registry("jobs.examples")


def check(**fields: Any) -> None:
    values: dict[str, Any] = {
        "name": "report",
        "job": "runs_report",
        "trigger": "interval",
        "interval_seconds": 3600,
        **fields,
    }
    validate(ScheduleDefinition(**values), REGISTRY, ["default"], NOW)


def fields_of(**fields: Any) -> dict[str, str]:
    with pytest.raises(ScheduleError) as raised:
        check(**fields)
    return {e["field"]: e["message"] for e in raised.value.errors}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("interval_seconds", 315_360_001),
        ("interval_seconds", 10**30),
        ("expires_seconds", 0),
        ("expires_seconds", 31_622_401),
        ("jitter_seconds", -1),
        ("jitter_seconds", 86_401),
        ("catch_up_window_seconds", 0),
        ("catch_up_window_seconds", 31_622_401),
        ("priority", 10),
        ("priority", -1),
    ],
)
def test_a_value_out_of_bounds_is_refused_naming_its_field(field: str, value: int) -> None:
    assert set(fields_of(**{field: value})) == {field}


def test_values_at_the_bounds_are_accepted() -> None:
    check(
        interval_seconds=315_360_000,
        expires_seconds=31_622_400,
        jitter_seconds=86_400,
        catch_up_window_seconds=31_622_400,
        priority=9,
    )
    check(expires_seconds=1, jitter_seconds=0, catch_up_window_seconds=1, priority=0)
    check(interval_seconds=1)


def test_jitter_must_be_shorter_than_an_interval() -> None:
    assert set(fields_of(interval_seconds=60, jitter_seconds=60)) == {"jitter_seconds"}
    assert "interval_seconds" in fields_of(interval_seconds=60, jitter_seconds=90)["jitter_seconds"]
    check(interval_seconds=60, jitter_seconds=59)
    # Only intervals: a daily cron may spread its fires over a longer window than a minute.
    check(trigger="cron", cron="0 3 * * *", interval_seconds=None, jitter_seconds=3600)


@pytest.mark.parametrize("year", [1969, 9001, 1, 9999])
def test_a_run_at_year_outside_1970_to_9000_is_refused(year: int) -> None:
    run_at = datetime(year, 1, 1, tzinfo=UTC) if year < 9000 else datetime(year, 12, 31, tzinfo=UTC)
    errors = fields_of(trigger="once", interval_seconds=None, run_at=run_at)
    assert set(errors) == {"run_at"} and "1970" in errors["run_at"]


def test_a_run_at_far_ahead_within_the_bounds_is_accepted() -> None:
    check(trigger="once", interval_seconds=None, run_at=datetime(9000, 12, 31, tzinfo=UTC))


def test_next_nominal_without_jitter_is_the_next_fire_after_now() -> None:
    trigger = CronTrigger.parse("0 * * * *", "UTC")
    assert next_nominal(trigger, "report", 0, NOW) == NOW + timedelta(hours=1)
    assert next_nominal(trigger, "report", 0, NOW - timedelta(seconds=1)) == NOW


def test_next_nominal_keeps_a_fire_whose_jittered_send_time_is_still_ahead() -> None:
    trigger = CronTrigger.parse("0 * * * *", "UTC")
    offset = jitter_offset("report", 600)
    assert offset > 0
    # Inside the jitter window of the 12:00 fire: it has not been sent yet, so it is next.
    inside = NOW + timedelta(seconds=offset - 1)
    assert next_nominal(trigger, "report", 600, inside) == NOW
    assert fire_time("report", NOW, 600) > inside
    # Once its send time has passed, the next hour is next.
    at_send = NOW + timedelta(seconds=offset)
    assert next_nominal(trigger, "report", 600, at_send) == NOW + timedelta(hours=1)


def test_next_nominal_follows_the_trigger_kind() -> None:
    interval = IntervalTrigger(300, NOW)
    offset = jitter_offset("report", 120)
    later = NOW + timedelta(seconds=300 + offset - 1)
    assert next_nominal(interval, "report", 120, later) == NOW + timedelta(seconds=300)
    once = OnceTrigger(NOW)
    assert next_nominal(once, "report", 120, NOW + timedelta(seconds=offset - 1)) == NOW
    assert next_nominal(once, "report", 120, NOW + timedelta(seconds=offset)) is None
