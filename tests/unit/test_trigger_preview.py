"""The trigger preview the schedule form shows while the person types (pure, fixed clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs.schedules.definition import ScheduleError
from jobs.schedules.preview import Grid, preview

NOW = datetime(2026, 3, 28, 12, 0, 7, tzinfo=UTC)


def test_an_interval_without_an_anchor_is_previewed_as_if_saved_now() -> None:
    found = preview({"trigger": "interval", "interval_seconds": "90"}, NOW, 3)

    assert [f.utc for f in found.fires] == [NOW + timedelta(seconds=90 * k) for k in (1, 2, 3)]
    assert found.description.startswith("every 90 seconds of elapsed time")


def test_a_cron_preview_follows_the_clock_change_in_its_zone() -> None:
    found = preview({"cron": "30 2 * * *", "timezone": "Europe/Paris"}, NOW, 2)

    # 2026-03-29 02:30 does not exist in Paris (the clocks skip from 02:00 to 03:00): that
    # day's fire is at the first minute that exists, 03:00.
    assert [f.local.strftime("%m-%d %H:%M %Z") for f in found.fires] == [
        "03-29 03:00 CEST",
        "03-30 02:30 CEST",
    ]


def test_a_one_off_time_already_past_previews_no_fires() -> None:
    found = preview({"trigger": "once", "run_at": "2026-03-01T09:00:00+00:00"}, NOW)

    assert found.fires == []
    assert found.description == "once, at 2026-03-01 09:00:00 UTC"


def test_fields_outside_the_trigger_are_ignored_and_bad_ones_are_named() -> None:
    with pytest.raises(ScheduleError) as refused:
        preview({"cron": "* * * * *", "timezone": "Mars/Base", "job": "nope"}, NOW)
    assert [e["field"] for e in refused.value.errors] == ["timezone"]
    with pytest.raises(ScheduleError, match="count"):
        preview({"cron": "* * * * *"}, NOW, 51)


def test_an_edit_that_keeps_the_interval_length_keeps_its_grid_as_a_save_would() -> None:
    grid = Grid(3600, datetime(2026, 1, 1, 0, 15, tzinfo=UTC))

    same = preview({"trigger": "interval", "interval_seconds": "3600"}, NOW, 2, grid)
    longer = preview({"trigger": "interval", "interval_seconds": "7200"}, NOW, 1, grid)

    assert [f.utc.strftime("%H:%M:%S") for f in same.fires] == ["12:15:00", "13:15:00"]
    assert longer.fires[0].utc == NOW + timedelta(hours=2), "a new length starts a new grid"
