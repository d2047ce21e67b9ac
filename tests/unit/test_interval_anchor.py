"""Interval schedules count elapsed time; a chosen anchor sets the phase of their grid."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from jobs.schedules.definition import next_nominal
from jobs.schedules.triggers import IntervalTrigger, phase_anchor

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)
NEW_YORK = ZoneInfo("America/New_York")


def test_a_daily_interval_counts_elapsed_time_across_spring_forward() -> None:
    # Created at 09:00 EST on 2026-03-07: the next day's fire is 24 hours later, 10:00 EDT.
    created = datetime(2026, 3, 7, 9, tzinfo=NEW_YORK)
    trigger = IntervalTrigger(86400, created)
    fire = trigger.next_after(created)
    assert fire is not None
    assert fire.astimezone(NEW_YORK).strftime("%H:%M %Z") == "10:00 EDT"


def test_an_anchor_in_the_past_is_kept_and_fires_continue_on_its_grid() -> None:
    anchor = datetime(2025, 6, 1, 0, 15, tzinfo=UTC)
    assert phase_anchor(anchor, 3600, NOW) == anchor
    trigger = IntervalTrigger(3600, phase_anchor(anchor, 3600, NOW))
    assert next_nominal(trigger, "s", 0, NOW) == datetime(2026, 1, 1, 12, 15, tzinfo=UTC)


def test_a_future_anchor_steps_back_whole_periods_so_its_day_fires_first_at_its_time() -> None:
    tomorrow_nine = datetime(2026, 1, 2, 9, tzinfo=UTC)
    stored = phase_anchor(tomorrow_nine, 86400, NOW)
    assert stored == datetime(2026, 1, 1, 9, tzinfo=UTC)
    trigger = IntervalTrigger(86400, stored)
    assert next_nominal(trigger, "s", 0, NOW) == tomorrow_nine


def test_a_future_anchor_is_a_phase_so_a_short_interval_starts_before_it() -> None:
    stored = phase_anchor(datetime(2026, 1, 2, 9, 15, tzinfo=UTC), 3600, NOW)
    trigger = IntervalTrigger(3600, stored)
    assert next_nominal(trigger, "s", 0, NOW) == datetime(2026, 1, 1, 12, 15, tzinfo=UTC)


def test_an_anchor_with_any_offset_is_stored_in_utc() -> None:
    paris_nine = datetime(2025, 1, 1, 9, tzinfo=timezone(timedelta(hours=1)))
    assert phase_anchor(paris_nine, 60, NOW) == datetime(2025, 1, 1, 8, tzinfo=UTC)
    assert phase_anchor(paris_nine, 60, NOW).tzinfo is UTC
