"""Per-schedule health from plain values and a controllable clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from jobs.schedules.health import (
    HealthState,
    RunFact,
    RunSummary,
    ScheduleFacts,
    default_grace,
    schedule_health,
    summarize,
)
from jobs.schedules.triggers import CronTrigger, IntervalTrigger, OnceTrigger, Trigger

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
EVERY_MINUTE = CronTrigger.parse("* * * * *", "UTC")


def facts(
    trigger: Trigger = EVERY_MINUTE,
    *,
    enabled: bool = True,
    grace: int | None = 30,
    next_fire_at: datetime | None = None,
    since: datetime = T0,
    jitter: int = 0,
) -> ScheduleFacts:
    return ScheduleFacts(
        name="s",
        enabled=enabled,
        trigger=trigger,
        jitter_seconds=jitter,
        grace_seconds=grace,
        next_fire_at=next_fire_at,
        active_since=since,
    )


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def success(minute: float) -> RunSummary:
    return RunSummary(
        last_outcome="SUCCESS", last_outcome_at=at(minute), last_success_for=at(minute)
    )


def test_a_schedule_without_finished_runs_is_new_until_a_fire_is_overdue() -> None:
    health = schedule_health(facts(next_fire_at=at(1)), RunSummary(), at(1.2))
    assert health.state is HealthState.NEW


def test_a_disabled_schedule_is_paused_whatever_its_runs_say() -> None:
    failed = RunSummary(last_outcome="FAILURE", last_outcome_at=at(1))
    assert schedule_health(facts(enabled=False), failed, at(30)).state is HealthState.PAUSED


def test_a_schedule_whose_last_run_succeeded_on_time_is_up() -> None:
    health = schedule_health(facts(next_fire_at=at(3)), success(2), at(2.5))
    assert health.state is HealthState.UP
    assert "succeeded" in health.reason


def test_a_fire_not_sent_past_its_grace_makes_the_schedule_late() -> None:
    within = schedule_health(facts(next_fire_at=at(3)), success(2), at(3) + timedelta(seconds=29))
    past = schedule_health(facts(next_fire_at=at(3)), success(2), at(3) + timedelta(seconds=31))
    assert within.state is HealthState.UP
    assert past.state is HealthState.LATE
    assert "not sent" in past.reason


def test_a_fire_sent_but_not_started_past_its_grace_is_late() -> None:
    waiting = RunSummary(
        last_outcome="SUCCESS",
        last_outcome_at=at(2),
        last_success_for=at(2),
        oldest_waiting_for=at(3),
    )
    health = schedule_health(facts(next_fire_at=at(4)), waiting, at(3.75))
    assert health.state is HealthState.LATE
    assert "no worker started it" in health.reason


def test_the_grace_counts_from_the_jittered_send_time() -> None:
    # With a 3600 s jitter window the fire is sent some seconds after its nominal time.
    jittered = facts(next_fire_at=at(3), jitter=3600)
    from jobs.schedules.jitter import jitter_offset

    offset = jitter_offset("s", 3600)
    just_inside = at(3) + timedelta(seconds=offset + 29)
    health = schedule_health(jittered, success(2), just_inside)
    assert health.state is HealthState.UP


def test_a_failed_or_dead_lettered_last_run_makes_the_schedule_failing() -> None:
    failed = RunSummary(
        last_outcome="FAILURE",
        last_outcome_at=at(2),
        last_dead_lettered=True,
        last_error="ValueError: boom",
        last_success_for=at(1),
    )
    health = schedule_health(facts(next_fire_at=at(3)), failed, at(2.5))
    assert health.state is HealthState.FAILING
    assert "dead-lettered" in health.reason
    assert "boom" in health.reason


def test_an_expired_fire_counts_as_failing() -> None:
    expired = RunSummary(last_outcome="EXPIRED", last_outcome_at=at(2), last_success_for=at(1))
    health = schedule_health(facts(next_fire_at=at(3)), expired, at(2.5))
    assert health.state is HealthState.FAILING
    assert "expired" in health.reason


def test_two_expected_fires_without_a_success_make_the_schedule_down() -> None:
    # Last success at minute 2; fires at 3 and 4 passed their grace with no success.
    failed = RunSummary(last_outcome="FAILURE", last_outcome_at=at(4), last_success_for=at(2))
    assert schedule_health(facts(next_fire_at=at(5)), failed, at(4.4)).state is HealthState.FAILING
    health = schedule_health(facts(next_fire_at=at(5)), failed, at(4.6))
    assert health.state is HealthState.DOWN
    assert "no successful run" in health.reason


def test_a_beat_that_stopped_sending_turns_late_then_down() -> None:
    stuck = facts(next_fire_at=at(3))
    assert schedule_health(stuck, success(2), at(3.6)).state is HealthState.LATE
    assert schedule_health(stuck, success(2), at(4.6)).state is HealthState.DOWN


def test_a_down_schedule_says_why_a_failing_job_no_worker_or_no_beat() -> None:
    failing = RunSummary(
        last_outcome="FAILURE", last_outcome_at=at(4), last_success_for=at(2), last_error="boom"
    )
    reason = schedule_health(facts(next_fire_at=at(5)), failing, at(4.6)).reason
    assert reason.endswith("passed their 30 s grace; the last run failed: boom")
    waiting = RunSummary(
        last_outcome="SUCCESS",
        last_outcome_at=at(2),
        last_success_for=at(2),
        oldest_waiting_for=at(3),
    )
    reason = schedule_health(facts(next_fire_at=at(5)), waiting, at(4.6)).reason
    assert "; the fire of 2026-12-01 12:03:00 UTC was sent but no worker started it" in reason
    reason = schedule_health(facts(next_fire_at=at(3)), success(2), at(4.6)).reason
    assert "; the fire of 2026-12-01 12:03:00 UTC was not sent" in reason


def test_a_failure_from_before_a_resume_still_shows_failing_and_says_it_came_before() -> None:
    # The last run failed at minute 10; the schedule was paused, then resumed at minute 60.
    failed = RunSummary(last_outcome="FAILURE", last_outcome_at=at(10), last_error="boom")
    resumed = facts(next_fire_at=at(61), since=at(60))
    health = schedule_health(resumed, failed, at(60.1))
    assert health.state is HealthState.FAILING
    assert health.reason == (
        "the last run failed: boom (before the schedule was resumed or changed at "
        "2026-12-01 13:00:00 UTC; no run has finished since)"
    )
    again = RunSummary(last_outcome="FAILURE", last_outcome_at=at(61), last_error="boom")
    assert schedule_health(resumed, again, at(61.1)).reason == "the last run failed: boom"


def test_fires_before_a_resume_or_edit_are_not_expected() -> None:
    # Nothing succeeded for hours, but the schedule was resumed at minute 120.
    resumed = facts(next_fire_at=at(121), since=at(120))
    health = schedule_health(resumed, success(0), at(120.5))
    assert health.state is HealthState.UP


def test_a_one_off_schedule_is_up_after_its_run_succeeded_and_never_down() -> None:
    once = facts(OnceTrigger(at(1)), next_fire_at=None)
    assert schedule_health(once, success(1), at(10_000)).state is HealthState.UP
    late = facts(OnceTrigger(at(1)), next_fire_at=at(1))
    assert schedule_health(late, RunSummary(), at(5)).state is HealthState.LATE


def test_the_default_grace_is_a_tenth_of_the_period_between_a_minute_and_an_hour() -> None:
    assert default_grace(None) == 60
    assert default_grace(60) == 60
    assert default_grace(3600) == 360
    assert default_grace(86_400) == 3600
    hourly = facts(IntervalTrigger(3600, T0), grace=None, next_fire_at=at(60))
    assert schedule_health(hourly, success(0), at(61)).grace_seconds == 360


def test_a_summary_of_runs_ignores_skipped_and_cancelled_fires() -> None:
    now = at(10)
    runs = [
        RunFact("SUCCESS", at(7), finished_at=at(7.1)),
        RunFact("FAILURE", at(8), finished_at=at(8.1), dead_lettered=True, error="boom"),
        RunFact("SKIPPED", at(9), finished_at=at(9)),
        RunFact("CANCELLED", at(9.5), finished_at=at(9.2)),
        RunFact("PENDING", at(9.8)),
        RunFact("PENDING", at(10.1)),  # held ahead of its time
    ]
    summary = summarize(runs, now)
    assert summary.last_outcome == "FAILURE"
    assert summary.last_dead_lettered
    assert summary.last_success_for == at(7)
    assert summary.oldest_waiting_for == at(9.8)
    assert summary.last_fire_at == at(9.8)
    assert summary.held_ahead == 1
