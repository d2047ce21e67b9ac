"""The beat's planning as pure functions: plain rows, plain times, no store and no broker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from jobs.beat.planning import Entry, Plan, Planner, overlap_reason, previous_state
from jobs.store.schedules import ScheduleRecord

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def row(**fields: Any) -> ScheduleRecord:
    values: dict[str, Any] = {
        "name": "s",
        "job": "add",
        "args": [],
        "kwargs": {"x": 1},
        "queue": None,
        "priority": None,
        "trigger": "interval",
        "cron": None,
        "interval_seconds": 10,
        "run_at": None,
        "timezone": "UTC",
        "expires_seconds": None,
        "jitter_seconds": 0,
        "catch_up": "skip",
        "catch_up_window_seconds": 3600,
        "overlap": "allow",
        "enabled": True,
        "changed_by": None,
        "changed_at": None,
        "change_reason": None,
        "source": "runtime",
        "edited_at": None,
        "created_at": T0,
        "version": 7,
        "deleted": False,
        "anchor": T0,
        "next_fire_at": T0 + timedelta(seconds=10),
        "last_fire_at": T0,
        "last_run_id": "previous",
        "fired_count": 0,
        "skipped_count": 0,
        "missed_count": 0,
    }
    values.update(fields)
    return ScheduleRecord(**values)


PLANNER = Planner(queue_of=lambda r: f"bk.{r.queue or 'default'}", late_grace=2.0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_fire_due_now_is_sent_and_the_next_one_queued() -> None:
    plan = Plan()
    schedule = row()
    PLANNER.decide(plan, schedule, schedule.build_trigger(), at(10), None, at(10))
    [fire] = plan.fires
    assert (fire.run.scheduled_for, fire.run.queue, fire.hold, fire.at) == (
        at(10),
        "bk.default",
        False,
        at(10),
    )
    [update] = plan.updates
    assert (update.next_fire_at, update.last_run_id, update.missed) == (at(20), fire.run.id, 0)
    assert plan.follow == [Entry(at(20), "s", at(20), 7)]


def test_the_same_fire_planned_twice_has_the_same_run_id() -> None:
    first, second = Plan(), Plan()
    schedule = row()
    for plan in (first, second):
        PLANNER.decide(plan, schedule, schedule.build_trigger(), at(10), None, at(10))
    assert first.fires[0].run.id == second.fires[0].run.id


def test_a_beat_far_behind_counts_what_it_slept_through_as_missed() -> None:
    plan = Plan()
    schedule = row()
    PLANNER.decide(plan, schedule, schedule.build_trigger(), at(10), None, at(55))
    assert (plan.updates[0].next_fire_at, plan.updates[0].missed) == (at(60), 4)


def test_a_skipped_fire_is_recorded_with_its_reason_and_sends_nothing() -> None:
    plan = Plan()
    schedule = row(overlap="skip")
    reason = overlap_reason(schedule, "STARTED")
    PLANNER.decide(plan, schedule, schedule.build_trigger(), at(10), reason, at(10))
    assert plan.fires == []
    [(skipped, why)] = plan.skips
    assert skipped.scheduled_for == at(10)
    assert why == "overlap=skip: previous run previous is STARTED"
    assert plan.updates[0].last_run_id == "previous"


def test_overlap_policies_against_the_previous_runs_state() -> None:
    assert overlap_reason(row(overlap="allow"), "STARTED") is None
    assert overlap_reason(row(overlap="skip"), "SUCCESS") is None
    assert overlap_reason(row(overlap="buffer_one"), "STARTED") is None
    assert overlap_reason(row(overlap="buffer_one"), "PENDING") is not None


def test_a_run_started_longer_ago_than_its_hard_limit_no_longer_counts_as_running() -> None:
    limit = timedelta(seconds=300)
    assert previous_state("STARTED", at(0), limit, at(299)) == "STARTED"
    assert previous_state("STARTED", at(0), limit, at(301)) == "LOST"
    assert previous_state("PENDING", at(0), limit, at(301)) == "PENDING"


def test_catch_up_latest_sends_only_the_last_missed_fire_and_counts_the_rest() -> None:
    plan = Plan()
    schedule = row(catch_up="latest", next_fire_at=at(10))
    PLANNER.catch_up(plan, schedule, schedule.build_trigger(), at(55))
    assert [f.run.scheduled_for for f in plan.fires] == [at(50)]
    assert (plan.updates[0].missed, plan.updates[0].next_fire_at) == (4, at(60))  # 10..40


def test_catch_up_all_of_a_schedule_that_must_not_overlap_sends_one() -> None:
    plan = Plan()
    schedule = row(catch_up="all", overlap="skip", next_fire_at=at(10))
    PLANNER.catch_up(plan, schedule, schedule.build_trigger(), at(55))
    assert [f.run.scheduled_for for f in plan.fires] == [at(50)]


def test_an_early_fire_is_held_until_its_time() -> None:
    plan = Plan()
    schedule = row()
    entry = Entry(at(10), "s", at(10), 7)
    PLANNER.early(plan, schedule, schedule.build_trigger(), entry, at(8))
    [fire] = plan.fires
    assert (fire.hold, fire.at) == (True, at(10))


def test_undo_drops_only_what_was_planned_after_the_mark() -> None:
    plan = Plan()
    schedule = row()
    PLANNER.decide(plan, schedule, schedule.build_trigger(), at(10), None, at(10))
    mark = plan.mark()
    PLANNER.decide(plan, row(name="t"), schedule.build_trigger(), at(10), None, at(10))
    plan.undo_to(mark)
    assert [f.run.schedule for f in plan.fires] == ["s"] and len(plan.updates) == 1
