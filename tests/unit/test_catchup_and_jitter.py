"""Catch-up of fires missed while the beat was down, and deterministic start jitter."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from jobs.schedules.catchup import missed_fires
from jobs.schedules.jitter import jitter_offset
from jobs.schedules.triggers import CronTrigger, IntervalTrigger, OnceTrigger

HOURLY = CronTrigger.parse("0 * * * *", "UTC")
NOW = datetime(2026, 6, 1, 12, 30, tzinfo=UTC)


def hours_ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


# Jitter


def test_jitter_stays_within_the_window() -> None:
    for window in (1, 2, 7, 60, 3600, 86400):
        for n in range(200):
            assert 0 <= jitter_offset(f"schedule-{n}", window) < window


def test_jitter_is_zero_for_a_zero_window_and_rejects_a_negative_one() -> None:
    assert jitter_offset("nightly-report", 0) == 0
    with pytest.raises(ValueError):
        jitter_offset("nightly-report", -1)


def test_jitter_is_the_same_for_the_same_name_and_pinned_across_releases() -> None:
    assert jitter_offset("nightly-report", 3600) == jitter_offset("nightly-report", 3600)
    # Pinned so that a change of hashing, which would move every schedule, fails loudly.
    assert jitter_offset("nightly-report", 3600) == 533
    assert jitter_offset("", 3600) == 2255


def test_jitter_is_stable_across_processes_with_different_hash_seeds() -> None:
    code = "from jobs.schedules.jitter import jitter_offset; print(jitter_offset('cleanup', 3600))"
    outputs = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=Path(__file__).resolve().parents[2],
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.add(result.stdout.strip())
    assert outputs == {str(jitter_offset("cleanup", 3600))}


def test_jitter_spreads_different_names_across_the_window() -> None:
    offsets = {jitter_offset(f"schedule-{n}", 3600) for n in range(1000)}
    assert len(offsets) > 750  # ~870 distinct expected from 1000 uniform draws


# Catch-up


@pytest.mark.parametrize("policy", ["skip", "latest", "all"])
def test_a_schedule_that_never_ran_has_nothing_to_catch_up(policy: str) -> None:
    assert missed_fires(HOURLY, None, NOW, policy, 86400) == []  # type: ignore[arg-type]  # policy: str


def test_skip_drops_every_missed_fire() -> None:
    assert missed_fires(HOURLY, hours_ago(5), NOW, "skip", 86400) == []


def test_latest_returns_only_the_most_recent_missed_fire() -> None:
    assert missed_fires(HOURLY, hours_ago(5), NOW, "latest", 86400) == [hours_ago(0.5)]


def test_latest_is_empty_when_nothing_was_missed() -> None:
    assert missed_fires(HOURLY, hours_ago(0.5), NOW, "latest", 86400) == []


def test_a_fire_exactly_at_now_counts_and_the_last_fire_itself_does_not() -> None:
    on_the_hour = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert missed_fires(HOURLY, hours_ago(1.5), on_the_hour, "all", 86400) == [
        datetime(2026, 6, 1, 12, tzinfo=UTC)
    ]
    assert missed_fires(HOURLY, on_the_hour, on_the_hour, "all", 86400) == []


def test_latest_finds_the_last_of_millions_of_per_second_fires_quickly() -> None:
    every_second = CronTrigger.parse("* * * * * *", "UTC")
    now = NOW + timedelta(microseconds=250)
    started = time.perf_counter()
    assert missed_fires(every_second, NOW - timedelta(days=60), now, "latest", 0) == [NOW]
    assert time.perf_counter() - started < 0.5


def test_latest_ignores_the_window() -> None:
    yearly = CronTrigger.parse("0 0 1 1 *", "UTC")
    last = datetime(2020, 1, 1, tzinfo=UTC)
    assert missed_fires(yearly, last, NOW, "latest", 60) == [datetime(2026, 1, 1, tzinfo=UTC)]


def test_all_returns_fires_within_the_window_oldest_first() -> None:
    found = missed_fires(HOURLY, hours_ago(10), NOW, "all", 3 * 3600)
    assert found == [hours_ago(2.5), hours_ago(1.5), hours_ago(0.5)]


def test_all_includes_a_fire_exactly_at_the_window_edge() -> None:
    found = missed_fires(HOURLY, hours_ago(10), NOW, "all", int(2.5 * 3600))
    assert found == [hours_ago(2.5), hours_ago(1.5), hours_ago(0.5)]


def test_all_stops_at_the_limit_keeping_the_oldest_so_callers_can_page() -> None:
    first_page = missed_fires(HOURLY, hours_ago(10), NOW, "all", 86400, limit=4)
    assert first_page == [hours_ago(h) for h in (9.5, 8.5, 7.5, 6.5)]
    second_page = missed_fires(HOURLY, first_page[-1], NOW, "all", 86400, limit=4)
    assert second_page == [hours_ago(h) for h in (5.5, 4.5, 3.5, 2.5)]


def test_all_with_a_zero_window_keeps_only_a_fire_at_now() -> None:
    assert missed_fires(HOURLY, hours_ago(10), NOW, "all", 0) == []
    on_the_hour = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert missed_fires(HOURLY, hours_ago(10), on_the_hour, "all", 0) == [on_the_hour]


def test_a_huge_window_covers_every_missed_fire() -> None:
    found = missed_fires(HOURLY, hours_ago(3), NOW, "all", 10**12)
    assert found == [hours_ago(2.5), hours_ago(1.5), hours_ago(0.5)]


def test_catch_up_works_for_interval_and_once_triggers() -> None:
    interval = IntervalTrigger(600, NOW)
    assert missed_fires(interval, hours_ago(1), NOW, "latest", 0) == [NOW]
    assert len(missed_fires(interval, hours_ago(1), NOW, "all", 3600)) == 6
    once = OnceTrigger(hours_ago(2))
    assert missed_fires(once, hours_ago(3), NOW, "all", 86400) == [hours_ago(2)]
    assert missed_fires(once, hours_ago(2), NOW, "latest", 86400) == []


def test_latest_across_a_fall_back_returns_the_second_pass_of_the_repeated_hour() -> None:
    hourly_new_york = CronTrigger.parse("0 * * * *", "America/New_York")
    now = datetime(2026, 11, 1, 6, 30, tzinfo=UTC)  # 01:30 EST, the second 01:30 of the night
    last = datetime(2026, 11, 1, 4, tzinfo=UTC)
    assert missed_fires(hourly_new_york, last, now, "latest", 0) == [now.replace(minute=0)]
    assert missed_fires(hourly_new_york, last, now, "all", 86400) == [
        datetime(2026, 11, 1, 5, tzinfo=UTC),
        datetime(2026, 11, 1, 6, tzinfo=UTC),
    ]


def test_a_last_fire_after_now_has_nothing_to_catch_up() -> None:
    assert missed_fires(HOURLY, NOW + timedelta(hours=1), NOW, "all", 86400) == []


def test_catch_up_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="policy"):
        missed_fires(HOURLY, hours_ago(1), NOW, "everything", 60)  # type: ignore[arg-type]  # on purpose
    with pytest.raises(ValueError, match="window"):
        missed_fires(HOURLY, hours_ago(1), NOW, "all", -1)
    with pytest.raises(ValueError, match="limit"):
        missed_fires(HOURLY, hours_ago(1), NOW, "all", 60, limit=-1)
    with pytest.raises(ValueError, match="naive"):
        missed_fires(HOURLY, hours_ago(1), NOW.replace(tzinfo=None), "all", 60)
    with pytest.raises(ValueError, match="naive"):
        missed_fires(HOURLY, hours_ago(1).replace(tzinfo=None), NOW, "all", 60)
