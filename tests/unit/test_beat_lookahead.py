"""The adaptive look-ahead: a crowd of fires due together is handed over early enough to be
with the broker before its time, at the hand-over rate the beat measures. Fake clocks
drive the engine, and a fake broker makes every message cost time, as a real hand-over does."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from broker.publisher import OutgoingMessage
from broker.settings import BrokerSettings
from jobs.beat.engine import BeatConfig, BeatEngine
from jobs.beat.pacing import DueCounts, Pace
from jobs.factory import create_celery_app, load_registry
from jobs.settings import JobsSettings
from jobs.store.runs import NewRun
from jobs.store.schedule_bulk import create_many
from jobs.store.schedules import ScheduleStore
from tests.support import testjobs
from tests.support.beat_fakes import T0, Broker, Clocks, every


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def epoch(seconds: int) -> int:
    return int(at(seconds).timestamp())


# -- the counts, as pure functions -----------------------------------------------------------
def counts(**per_second: int) -> DueCounts:
    due = DueCounts()
    for second, n in per_second.items():
        for _ in range(n):
            due.add(at(int(second.removeprefix("s"))))
    return due


def test_a_burst_must_start_as_many_seconds_early_as_handing_it_over_takes() -> None:
    due = counts(s100=5000)
    assert due.start_by(at(0), at(300), rate=1000) == at(100).timestamp() - 5.0


def test_hand_over_starts_for_the_crowd_whose_start_is_reached_first() -> None:
    due = counts(s10=100, s50=2000, s51=2000)
    assert due.start_by(at(10), at(300), rate=1000) == at(10).timestamp() - 0.1
    # 4,100 fires due by second 51 must start by 46.9; the 2,100 due by 50 by 47.9.
    assert due.pressed_until(at(10), at(300), 1000, deadline=at(47).timestamp()) == epoch(51)
    assert due.pressed_until(at(10), at(300), 1000, deadline=at(9.95).timestamp()) == epoch(10)
    assert due.pressed_until(at(10), at(300), 1000, deadline=at(9).timestamp()) is None


def test_fires_beyond_the_window_or_taken_off_the_heap_do_not_press() -> None:
    due = counts(s400=100_000)
    assert due.start_by(at(0), at(300), rate=1000) is None
    due = counts(s100=2)
    due.remove(at(100))
    due.remove(at(100))
    assert due.counts == {}


def test_the_measured_rate_follows_large_batches_and_ignores_small_ones() -> None:
    pace = Pace(rate=2000)
    pace.observe(10, 1.0)  # ten fires in a second: fixed costs, not the rate
    assert pace.rate == 2000
    for _ in range(20):
        pace.observe(1000, 1.0)
    assert pace.rate == 1000  # a slower batch is believed at once
    pace.observe(4000, 1.0)
    assert 1000 < pace.rate < 4000  # a faster one only in part
    assert pace.planning_rate < pace.rate  # plans with a margin for a busier machine


# -- the engine --------------------------------------------------------------------------------
class SlowBroker(Broker):
    """Takes ``rate`` messages a second: each publish moves the clocks on."""

    def __init__(self, clocks: Clocks, rate: float) -> None:
        super().__init__(clocks)
        self.rate = rate

    def publish(self, messages: Sequence[OutgoingMessage]) -> None:
        self.clocks.advance(len(messages) / self.rate)
        super().publish(messages)


@pytest.fixture
def world(free_sqlite_url: str) -> Iterator[Any]:
    settings = JobsSettings(broker=BrokerSettings(prefix="bk"), database_url=free_sqlite_url)
    app = create_celery_app(settings, load_registry("jobs.examples").merge(testjobs.registry))
    clocks = Clocks()
    broker = SlowBroker(clocks, rate=1000)
    store = ScheduleStore(app.store.engine)

    def engine(**config: Any) -> BeatEngine:
        cfg = BeatConfig(**{"poll_interval": 0.0, "lookahead": 1.0, "max_batch": 500, **config})
        beat = BeatEngine(
            app, store, broker.publish, clock=clocks.wall, monotonic=clocks.monotonic, config=cfg
        )
        beat.start()
        return beat

    def burst(count: int, due: datetime, prefix: str = "b") -> None:
        items = [(every(86400, name=f"{prefix}{i:05d}"), due) for i in range(count)]
        create_many(store, items, now=clocks.now, by="test")

    class World:
        pass

    w: Any = World()
    w.app, w.clocks, w.broker, w.store, w.engine, w.burst = (
        app,
        clocks,
        broker,
        store,
        engine,
        burst,
    )
    yield w
    app.store.engine.dispose()


def drive(world: Any, beat: BeatEngine, until: datetime) -> None:
    """Tick as the beat's loop does, sleeping (in fake time) what each tick asks."""
    while world.clocks.now < until:
        wait = beat.tick()
        rest = (until - world.clocks.now).total_seconds()
        world.clocks.advance(max(0.01, min(wait, rest)))


def handed_over_late(sent: list[tuple[datetime, OutgoingMessage]]) -> int:
    """Fires that reached the broker at or after their due time (or not held at all)."""
    return sum(1 for when, m in sent if m.deliver_at is None or when.timestamp() >= m.deliver_at)


def test_a_burst_larger_than_the_look_ahead_can_carry_is_all_held_before_it_is_due(
    world: Any,
) -> None:
    # 3,000 fires at 1,000 a second take 3 s to hand over; the fixed look-ahead is 1 s.
    world.burst(3000, at(60))
    beat = world.engine(handover_rate=1000)
    drive(world, beat, at(62))
    assert len(world.broker.sent) == 3000
    assert handed_over_late(world.broker.sent) == 0
    first = min(when for when, _ in world.broker.sent)
    assert at(60) - first > timedelta(seconds=3)  # started as early as the rate required


def test_with_a_fixed_look_ahead_the_same_burst_is_handed_over_too_late(world: Any) -> None:
    world.burst(3000, at(60))
    beat = world.engine(handover_rate=1000, max_lookahead=0.0)
    drive(world, beat, at(65))
    assert len(world.broker.sent) == 3000
    assert handed_over_late(world.broker.sent) > 1000


def test_the_beat_starts_earlier_once_it_has_measured_a_slower_broker(world: Any) -> None:
    # It assumes 10,000 fires a second; a first burst shows the broker takes 1,000.
    world.burst(1000, at(30), prefix="first")
    world.burst(3000, at(90), prefix="second")
    beat = world.engine(handover_rate=10_000)
    drive(world, beat, at(92))
    assert beat.pace.rate < 2000
    second = [
        (when, m) for when, m in world.broker.sent if "second" in m.headers["beatkeeper_schedule"]
    ]
    assert len(second) == 3000
    assert handed_over_late(second) == 0


def test_a_fire_due_before_fires_already_held_goes_direct_at_its_time(world: Any) -> None:
    world.burst(3000, at(60))
    beat = world.engine(handover_rate=1000)
    drive(world, beat, at(57.5))  # the burst is held by now
    world.store.create(
        every(86400, name="early"), next_fire_at=at(58), now=world.clocks.now, by="t"
    )
    drive(world, beat, at(59))
    [(when, message)] = [
        (w, m) for w, m in world.broker.sent if m.headers["beatkeeper_schedule"] == "early"
    ]
    assert message.deliver_at is None  # not behind the burst in a hold queue
    assert at(58) <= when < at(58.5)


def test_a_restarted_beat_does_not_queue_fires_behind_those_its_predecessor_held(
    world: Any,
) -> None:
    world.burst(3000, at(60))
    first = world.engine(handover_rate=1000)
    drive(world, first, at(57))
    world.store.create(
        every(86400, name="early"), next_fire_at=at(58), now=world.clocks.now, by="t"
    )
    second = world.engine(handover_rate=1000)
    drive(world, second, at(59))
    [message] = [m for _, m in world.broker.sent if m.headers["beatkeeper_schedule"] == "early"]
    assert message.deliver_at is None


def test_held_until_reads_the_latest_held_fire_with_its_jitter(world: Any) -> None:
    run = NewRun(
        id="r1", job="add", queue="bk.default", kwargs={}, schedule="j", scheduled_for=at(100)
    )
    world.store.create(
        every(86400, name="j", jitter_seconds=30), next_fire_at=at(100), now=T0, by="t"
    )
    with world.app.store.engine.begin() as conn:
        world.store.runs.insert_pending(conn, [run], T0, held=True)
    assert world.store.held_until(T0 - timedelta(seconds=1)) == at(130)
    assert world.store.held_until(T0 + timedelta(seconds=1)) is None
