"""The beat engine driven by a fake clock, recording what it would publish and when."""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from broker.publisher import OutgoingMessage, PublishError
from broker.settings import BrokerSettings
from jobs.beat.engine import BeatConfig, BeatEngine, BrokerDownError
from jobs.factory import create_celery_app, load_registry
from jobs.schedules.definition import ScheduleDefinition
from jobs.schedules.kinds import CatchUp, TriggerKind
from jobs.services.schedules import ScheduleError, ScheduleManager
from jobs.settings import JobsSettings
from tests.support import testjobs
from tests.support.clocks import ManualClock

T0 = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


class Recorder:
    """A sink that records each published message with the fake time it was sent."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.sent: list[tuple[datetime, OutgoingMessage]] = []
        self.fail = False

    def __call__(self, messages: Sequence[OutgoingMessage]) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.sent.extend((self.clock(), m) for m in messages)

    def fires(self) -> list[tuple[str, str]]:
        return [
            (m.headers["beatkeeper_schedule"], m.headers["beatkeeper_scheduled_for"])
            for _, m in self.sent
        ]


@pytest.fixture
def world(free_sqlite_url: str) -> Any:
    settings = JobsSettings(broker=BrokerSettings(prefix="bk"), database_url=free_sqlite_url)
    registry = load_registry("jobs.examples").merge(testjobs.registry)
    app = create_celery_app(settings, registry)
    clock = ManualClock(T0)
    recorder = Recorder(clock)
    manager = ScheduleManager(app, clock=clock)

    def engine(**config: Any) -> BeatEngine:
        cfg = BeatConfig(**{"poll_interval": 0.0, "lookahead": 3.0, **config})
        beat = BeatEngine(app, manager.store, recorder, clock=clock, config=cfg)
        beat.start()
        return beat

    class World:
        pass

    w = World()
    w.app, w.clock, w.recorder, w.manager, w.engine = app, clock, recorder, manager, engine  # type: ignore[attr-defined]  # a namespace
    return w


def run_for(world: Any, beat: BeatEngine, seconds: float, step: float = 0.1) -> None:
    """Tick every ``step`` seconds; a failed send is retried at the next step (the runner
    would back off first: tests/unit/test_beat_runner.py)."""
    end = world.clock.now + timedelta(seconds=seconds)
    while world.clock.now < end:
        with contextlib.suppress(BrokerDownError):
            beat.tick()
        world.clock.advance(step)


def every(seconds: int, name: str = "s", **fields: Any) -> ScheduleDefinition:
    return ScheduleDefinition(
        name=name,
        job="add",
        trigger=TriggerKind.INTERVAL,
        interval_seconds=seconds,
        kwargs={"x": 1},
        **fields,
    )


def test_an_interval_schedule_is_handed_over_ahead_and_released_at_each_fire(world: Any) -> None:
    world.manager.create(every(10), by="test")
    beat = world.engine(lookahead=3.0)

    run_for(world, beat, 25)

    fires = [(sent, m) for sent, m in world.recorder.sent]
    assert [m.deliver_at for _, m in fires] == [
        (T0 + timedelta(seconds=s)).timestamp() for s in (10, 20)
    ]
    for sent_at, message in fires:
        assert message.exchange == "bk.delay"  # held by RabbitMQ until deliver_at
        assert message.headers["beatkeeper-hold-shard"] in range(4)
        assert 0 < message.deliver_at - sent_at.timestamp() <= 3.0
        assert message.routing_key == "bk.default"


def test_the_same_fire_is_never_sent_twice_even_after_a_restart(world: Any) -> None:
    world.manager.create(every(10), by="test")
    beat = world.engine()
    run_for(world, beat, 15)
    second = world.engine()  # a restarted beat reads the advanced schedule
    run_for(world, second, 10)
    fires = world.recorder.fires()
    assert len(fires) == len(set(fires)) == 2
    ids = [m.message_id for _, m in world.recorder.sent]
    assert len(set(ids)) == 2


def test_a_pause_stops_fires_within_one_poll_and_cancels_a_fire_sent_ahead(world: Any) -> None:
    world.manager.create(every(10), by="test")
    beat = world.engine(lookahead=3.0)
    run_for(world, beat, 8)  # the 10 s fire is already with the broker
    held = world.recorder.sent[-1][1].message_id

    world.manager.pause("s", by="alice", reason="maintenance")
    run_for(world, beat, 30)

    assert len(world.recorder.sent) == 1
    run = world.app.store.get(held)
    assert (run.state, run.reason) == ("CANCELLED", "schedule paused")
    schedule = world.manager.get("s")
    assert (schedule.enabled, schedule.changed_by, schedule.change_reason) == (
        False,
        "alice",
        "maintenance",
    )


def test_a_resume_restarts_from_now_without_a_burst_of_missed_fires(world: Any) -> None:
    world.manager.create(every(10), by="test")
    beat = world.engine(lookahead=0.0)
    world.manager.pause("s", by="test")
    run_for(world, beat, 100)
    world.manager.resume("s", by="test")
    run_for(world, beat, 25)
    times = [datetime.fromisoformat(f) for _, f in world.recorder.fires()]
    assert times == [T0 + timedelta(seconds=110), T0 + timedelta(seconds=120)]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("skip", []), ("latest", [50]), ("all", [20, 30, 40, 50])],
)
def test_the_catch_up_policy_decides_what_a_restarted_beat_sends_for_its_downtime(
    world: Any, policy: str, expected: list[int]
) -> None:
    world.manager.create(every(10, catch_up=policy, catch_up_window_seconds=30), by="test")
    beat = world.engine(lookahead=0.0)
    run_for(world, beat, 11)  # fires at 10
    world.clock.advance(44)  # beat is down from 11 to 55: 20, 30, 40, 50 are missed
    sent_before = len(world.recorder.sent)
    world.engine(lookahead=0.0).tick()  # catch-up happens at start
    caught_up = [
        int((datetime.fromisoformat(f) - T0).total_seconds())
        for _, f in world.recorder.fires()[sent_before:]
    ]
    window = {"all": [30, 40, 50]}  # the window (30 s before 55) drops 20
    assert caught_up == window.get(policy, expected)
    schedule = world.manager.get("s")
    assert schedule.missed_count == 4 - len(caught_up)
    assert schedule.next_fire_at == T0 + timedelta(seconds=60)


def test_overlap_skip_records_a_skipped_fire_while_the_previous_run_is_unfinished(
    world: Any,
) -> None:
    world.manager.create(every(10, overlap="skip"), by="test")
    beat = world.engine()
    run_for(world, beat, 25)  # fires at 10; at 20 the first run is still PENDING
    assert len(world.recorder.sent) == 1
    runs = world.app.store.list(schedule="s")
    assert sorted(r.state for r in runs) == ["PENDING", "SKIPPED"]
    skipped = next(r for r in runs if r.state == "SKIPPED")
    assert "overlap=skip" in (skipped.reason or "")
    assert world.manager.get("s").skipped_count == 1


def test_a_failed_publish_keeps_the_fire_and_sends_it_when_the_broker_is_back(world: Any) -> None:
    world.manager.create(every(10, overlap="skip"), by="test")
    beat = world.engine()
    world.recorder.fail = True
    run_for(world, beat, 12)
    assert world.recorder.sent == [] and beat.stats["errors"] >= 1
    assert world.app.store.list(schedule="s") == []
    world.recorder.fail = False
    run_for(world, beat, 2)
    assert world.recorder.fires() == [("s", (T0 + timedelta(seconds=10)).isoformat())]


def test_an_edit_is_picked_up_by_the_running_beat_at_its_next_poll(world: Any) -> None:
    world.manager.create(every(10), by="test")
    beat = world.engine(lookahead=0.0)
    run_for(world, beat, 11)
    world.manager.update("s", {"interval_seconds": 3, "kwargs": {"x": 2}}, by="bob")
    run_for(world, beat, 7)
    tail = [json.loads(m.body)[1] for _, m in world.recorder.sent[1:]]
    assert len(tail) == 2 and all(kwargs == {"x": 2, "y": 0} for kwargs in tail)


def test_thousands_of_fires_due_in_the_same_second_go_out_in_batches_ahead_of_time(
    world: Any,
) -> None:
    due = T0 + timedelta(seconds=60)
    for i in range(2000):
        world.manager.store.create(every(60, name=f"s{i}"), next_fire_at=due, now=T0, by="test")
    beat = world.engine(lookahead=3.0, max_batch=500, max_lookahead=0.0)  # fixed look-ahead
    run_for(world, beat, 56.5, step=0.5)
    assert world.recorder.sent == []
    run_for(world, beat, 3.0, step=0.5)
    assert len(world.recorder.sent) == 2000
    assert all(sent < due for sent, _ in world.recorder.sent)
    assert {m.deliver_at for _, m in world.recorder.sent} == {due.timestamp()}
    shards = Counter(m.headers["beatkeeper-hold-shard"] for _, m in world.recorder.sent)
    assert shards == {0: 500, 1: 500, 2: 500, 3: 500}  # spread evenly over the hold queues


def test_code_schedules_are_synced_without_clobbering_runtime_edits_and_reset_restores_them(
    world: Any,
) -> None:
    from jobs.beat.sync import sync_code_schedules

    store = world.manager.store
    first = sync_code_schedules(world.app, store, T0)
    assert set(first["created"]) == {"hourly-runs-report", "nightly-cleanup"}
    world.manager.update("nightly-cleanup", {"cron": "0 4 * * *"}, by="ops")
    world.manager.pause("hourly-runs-report", by="ops")

    again = sync_code_schedules(world.app, store, T0)

    assert "nightly-cleanup" in again["kept"]
    assert world.manager.get("nightly-cleanup").cron == "0 4 * * *"
    assert world.manager.get("hourly-runs-report").enabled is False  # pausing is runtime state
    restored = world.manager.reset("nightly-cleanup", by="ops")
    assert (restored.cron, restored.source, restored.edited_at) == ("17 3 * * *", "code", None)


def test_a_one_off_schedule_in_the_past_can_still_be_edited_but_not_moved_into_the_past(
    world: Any,
) -> None:
    at = T0 + timedelta(seconds=30)
    world.manager.create(
        ScheduleDefinition(
            name="once", job="add", trigger=TriggerKind.ONCE, run_at=at, kwargs={"x": 1}
        ),
        by="test",
    )
    world.clock.advance(60)
    edited = world.manager.update("once", {"kwargs": {"x": 2}}, by="test")
    assert edited.kwargs == {"x": 2, "y": 0}
    with pytest.raises(ScheduleError, match="run_at: is in the past"):
        world.manager.update("once", {"run_at": T0}, by="test")


def test_a_failed_early_publish_is_retried_into_the_hold_queue_not_sent_early(world: Any) -> None:
    world.manager.create(every(10), by="test")
    beat = world.engine(lookahead=3.0)
    world.recorder.fail = True
    run_for(world, beat, 7.5)  # the 10 s fire failed to go out ahead of time
    world.recorder.fail = False
    run_for(world, beat, 2)
    [(sent_at, message)] = world.recorder.sent
    assert message.exchange == "bk.delay"
    assert message.deliver_at == (T0 + timedelta(seconds=10)).timestamp()
    assert sent_at < T0 + timedelta(seconds=10)


def test_a_change_seen_both_at_load_and_at_the_first_poll_fires_once(world: Any) -> None:
    world.manager.create(every(10), by="test")
    beat = world.engine(lookahead=0.0)
    beat._seen = 0  # as if the edit committed between reading the counter and loading rows
    run_for(world, beat, 25)
    assert beat.stats["errors"] == 0
    assert len(world.recorder.sent) == 2


class PartlyRefusing(Recorder):
    """Refuses the messages of some schedules, as a broker refusing some publishes."""

    def __init__(self, clock: ManualClock, refuse: set[str]) -> None:
        super().__init__(clock)
        self.refuse = refuse

    def __call__(self, messages: Sequence[OutgoingMessage]) -> None:
        refused = {
            m.message_id: "refused"
            for m in messages
            if m.headers["beatkeeper_schedule"] in self.refuse
        }
        super().__call__([m for m in messages if m.message_id not in refused])
        if refused:
            raise PublishError("some refused", refused)


def test_fires_the_broker_refused_are_retried_and_confirmed_ones_are_not_sent_again(
    world: Any,
) -> None:
    world.manager.create(every(10, name="a"), by="test")
    world.manager.create(every(10, name="b"), by="test")
    sink = PartlyRefusing(world.clock, refuse={"b"})
    beat = BeatEngine(
        world.app,
        world.manager.store,
        sink,
        clock=world.clock,
        config=BeatConfig(poll_interval=0.0, lookahead=0.0),
    )
    beat.start()
    run_for(world, beat, 11)
    sink.refuse = set()
    run_for(world, beat, 3)
    assert sorted(sink.fires()) == [
        ("a", (T0 + timedelta(seconds=10)).isoformat()),
        ("b", (T0 + timedelta(seconds=10)).isoformat()),
    ]
    assert {r.schedule for r in world.app.store.list()} == {"a", "b"}
    assert world.manager.get("b").fired_count == 1


def test_a_schedule_that_cannot_be_sent_is_set_aside_and_the_others_still_fire(
    world: Any,
) -> None:
    world.manager.create(every(10, name="a1"), by="test")
    world.manager.create(every(10, name="a2"), by="test")
    world.manager.create(
        ScheduleDefinition(
            name="other", job="runs_report", trigger=TriggerKind.INTERVAL, interval_seconds=10
        ),
        by="test",
    )
    world.app.tasks.pop("add")  # as if the job were removed from the code (this app only)
    beat = world.engine(lookahead=0.0)
    run_for(world, beat, 25)
    assert {s for s, _ in world.recorder.fires()} == {"other"}
    assert beat.stats["invalid"] == 2


def test_resuming_an_enabled_schedule_cancels_its_held_fire_so_it_runs_once(world: Any) -> None:
    world.manager.create(every(10), by="test")
    beat = world.engine(lookahead=3.0)
    run_for(world, beat, 8)  # the 10 s fire is held by the broker
    world.manager.resume("s", by="test")
    run_for(world, beat, 4)
    runs = world.app.store.list(schedule="s")
    live = [r for r in runs if r.state != "CANCELLED"]
    assert [r.scheduled_for for r in live] == [T0 + timedelta(seconds=10)]
    assert len(runs) == 2


def test_catch_up_all_sends_one_fire_for_a_schedule_that_must_not_overlap(world: Any) -> None:
    world.manager.create(every(10, catch_up=CatchUp.ALL, overlap="skip"), by="test")
    beat = world.engine(lookahead=0.0)
    run_for(world, beat, 11)
    world.clock.advance(44)
    before = len(world.recorder.sent)
    world.engine(lookahead=0.0)
    assert world.recorder.fires()[before:] == [("s", (T0 + timedelta(seconds=50)).isoformat())]


def test_a_duplicate_delivery_of_a_finished_run_is_not_started_again(world: Any) -> None:
    from jobs.store.attempts import AttemptFinished, AttemptKey, AttemptStarted, Outcome
    from jobs.store.runs import NewRun

    store = world.app.store
    run = NewRun("dup-1", "add", "bk.default", {"x": 1})
    assert store.start_attempt(AttemptStarted(run, AttemptKey(0, 0), "w", T0)) is True
    store.finish_attempt(AttemptFinished(run, AttemptKey(0, 0), Outcome.SUCCESS, T0, result=1))
    assert store.start_attempt(AttemptStarted(run, AttemptKey(0, 1), "w", T0)) is False
    assert store.get("dup-1").state == "SUCCESS"


def test_overlap_skip_stops_waiting_for_a_run_lost_with_its_worker(world: Any) -> None:
    from jobs.store.attempts import AttemptKey, AttemptStarted
    from jobs.store.runs import NewRun

    world.manager.create(every(100, overlap="skip"), by="test")
    beat = world.engine(lookahead=0.0)
    run_for(world, beat, 101, step=1.0)  # the 100 s fire is sent
    first = world.recorder.sent[0][1].message_id
    run = NewRun(first, "add", "bk.default", {})
    world.app.store.start_attempt(AttemptStarted(run, AttemptKey(0, 0), "w", world.clock()))
    run_for(world, beat, 100, step=1.0)  # at 200 it is still STARTED: skipped
    assert [r.state for r in world.app.store.list(schedule="s") if r.id != first] == ["SKIPPED"]
    assert len(world.recorder.sent) == 1
    # Started longer ago than the job's hard time limit (300 s + grace) allows: the run was
    # lost with its worker and no longer blocks the schedule.
    run_for(world, beat, 300, step=1.0)
    assert len(world.recorder.sent) == 2


def test_two_beats_sending_the_same_fires_count_each_fire_once(world: Any) -> None:
    # Without a lease (the store's fence is tested in tests/integration/test_beat_lease.py)
    # both beats plan the same fire; the counter follows the rows actually written and sent.
    world.manager.create(every(10), by="test")
    first, second = world.engine(lookahead=0.0), world.engine(lookahead=0.0)
    for _ in range(250):
        first.tick()
        second.tick()
        world.clock.advance(0.1)
    runs = world.app.store.list(schedule="s")
    assert len(runs) == 2
    assert world.manager.get("s").fired_count == len(runs)


def test_the_change_counter_is_polled_at_the_pace_of_the_injected_monotonic_clock(
    world: Any,
) -> None:
    ticks = [100.0]
    world.manager.create(every(10), by="test")
    beat = BeatEngine(
        world.app,
        world.manager.store,
        world.recorder,
        clock=world.clock,
        monotonic=lambda: ticks[0],
        config=BeatConfig(poll_interval=5.0, lookahead=0.0),
    )
    beat.start()
    beat.tick()
    world.manager.create(every(10, name="late"), by="test")
    world.clock.advance(12)
    beat.tick()  # the monotonic clock has not moved: the new schedule is not seen yet
    assert {s for s, _ in world.recorder.fires()} == {"s"}
    ticks[0] += 5.0
    world.clock.advance(10)
    beat.tick()
    world.clock.advance(0.5)
    beat.tick()
    assert "late" in {s for s, _ in world.recorder.fires()}
