"""The beat runner with fake clocks on a real SQLite store: leadership, fencing, outages."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event

from broker.settings import BrokerSettings
from jobs.beat.runner import Backoff, BeatRunner
from jobs.factory import create_celery_app, load_registry
from jobs.services.schedules import ScheduleManager
from jobs.settings import JobsSettings
from jobs.store.lease import LeaseStore
from tests.support import testjobs
from tests.support.beat_fakes import Broker, Clocks, at, every, make_runner, run


@pytest.fixture
def world(free_sqlite_url: str) -> Iterator[Any]:
    settings = JobsSettings(broker=BrokerSettings(prefix="bk"), database_url=free_sqlite_url)
    app = create_celery_app(settings, load_registry("jobs.examples").merge(testjobs.registry))
    # A short busy timeout, so that a held write lock fails a write in 0.1 s, not 10 s.
    event.listen(
        app.store.engine,
        "connect",
        lambda dbapi, _: dbapi.execute("PRAGMA busy_timeout=100"),
    )
    clocks = Clocks()
    broker = Broker(clocks)

    def runner(owner: str, sink: Broker | None = None) -> BeatRunner:
        return make_runner(app, clocks, sink or broker, owner)

    class World:
        pass

    w: Any = World()
    w.app, w.clocks, w.broker, w.runner = app, clocks, broker, runner
    w.manager = ScheduleManager(app, clock=clocks.wall)
    w.path = free_sqlite_url.removeprefix("sqlite:///")
    yield w
    app.store.engine.dispose()


def test_backoff_doubles_from_half_a_second_up_to_its_cap() -> None:
    backoff = Backoff(first=0.5, factor=2.0, cap=5.0)
    assert [backoff.delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_one_of_two_beats_leads_and_only_it_sends(world: Any) -> None:
    world.manager.create(every(1), by="test")
    a, b = world.runner("a"), world.runner("b")
    run(world, [a, b], 5.5)
    assert a.leading and not b.leading
    fires = world.broker.fires()
    assert [t for _, t in fires] == [at(s) for s in range(1, 6)]
    assert world.manager.get("s").fired_count == 5


def test_a_standby_takes_over_within_two_seconds_of_the_leaders_death_without_duplicates(
    world: Any,
) -> None:
    world.manager.create(every(1, catch_up="all"), by="test")
    a, b = world.runner("a"), world.runner("b")
    run(world, [a, b], 3.5)
    assert a.leading
    died = world.clocks.now  # a is killed: it never ticks again nor releases its lease
    run(world, [b], 2.0)
    assert b.leading
    lease = LeaseStore(world.app.store.engine).read()
    assert lease.owner == "b" and lease.acquired_at is not None
    assert (lease.acquired_at - died).total_seconds() <= 2.0
    run(world, [b], 3.0)
    fires = [t for _, t in world.broker.fires()]
    assert fires == [at(s) for s in range(1, 9)]  # catch-up all: nothing lost in the handover
    ids = [r.id for r in world.app.store.list(schedule="s")]
    assert len(ids) == len(set(ids)) == 8


def test_a_graceful_stop_hands_the_lease_over_at_once(world: Any) -> None:
    a, b = world.runner("a"), world.runner("b")
    run(world, [a, b], 1.0)
    a.stop()
    run(world, [b], 0.3)
    assert b.leading


def test_a_deposed_leader_that_was_only_slow_never_sends(world: Any) -> None:
    world.manager.create(every(1), by="test")
    a = world.runner("a")
    run(world, [a], 1.5)
    sent = len(world.broker.sent)
    # a stalls (a long GC pause): its monotonic clock says no time passed, but the world
    # moved on, and b took the lease meanwhile.
    world.clocks.now += timedelta(seconds=3)
    b = world.runner("b", sink=Broker(world.clocks))
    b.tick()
    assert b.leading
    a.tick()  # a believes it still leads and tries to send what is due
    assert not a.leading
    assert len(world.broker.sent) == sent


def test_the_beat_rides_out_a_broker_outage_with_backoff_and_logs_only_state_changes(
    world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    world.manager.create(every(1, catch_up="latest"), by="test")
    a = world.runner("a")
    run(world, [a], 2.5)
    world.broker.up = False
    world.broker.attempts = 0
    caplog.set_level(logging.INFO, logger="jobs.beat")
    standby = world.runner("b", sink=Broker(world.clocks))
    run(world, [a, standby], 30.0)
    # It kept its lease through the outage: a standby would meet the same broker.
    assert a.outage is not None and a.leading and not standby.leading
    # Backoff 0.5, 1, 2, 4, 5, 5...: a handful of tries in 30 s, not one per tick.
    assert world.broker.attempts <= 10
    world.broker.up = True
    while a.outage is not None:
        run(world, [a], 0.1)
    back_at = world.clocks.now
    run(world, [a], 5.0)
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "broker lost" in m]) == 1
    [back] = [m for m in messages if "broker back" in m]
    assert "1 fires pending" in back
    fires = [t for _, t in world.broker.fires()]
    assert len(fires) == len(set(fires))
    # catch_up=latest: of the ~30 fires due in the outage only the latest is sent, at once;
    # the following ones go on time.
    caught = [t for t in fires if at(2.5) < t <= back_at]
    assert len(caught) == 1 and back_at - caught[0] < timedelta(seconds=1)
    following = [t for t in fires if t > back_at]
    assert following == [caught[0] + timedelta(seconds=s) for s in range(1, len(following) + 1)]
    assert len(following) >= 4
    assert world.manager.get("s").missed_count >= 25


def test_the_beat_rides_out_a_store_held_locked_by_another_process_and_catches_up(
    world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    world.manager.create(every(1, catch_up="all", catch_up_window_seconds=5), by="test")
    a = world.runner("a")
    run(world, [a], 2.5)
    caplog.set_level(logging.INFO, logger="jobs.beat")
    holder = sqlite3.connect(world.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, as another process would hold it
    try:
        ticks = run(world, [a], 20.0)
        assert a.outage is not None and a.outage.part == "store"
        assert ticks <= 12  # backing off, not spinning
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    while a.outage is not None:
        run(world, [a], 0.1)
    back_at = world.clocks.now
    run(world, [a], 2.0)
    assert a.leading
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "store lost" in m]) == 1
    assert len([m for m in messages if "store back" in m]) == 1
    fires = [t for _, t in world.broker.fires()]
    assert len(fires) == len(set(fires))
    # catch_up=all within a 5 s window: the fires of the outage's last 5 s are sent late.
    late = [t for t in fires if at(2.5) < t <= back_at]
    assert 5 <= len(late) <= 6
    assert all(back_at - t <= timedelta(seconds=5) for t in late)
    assert late == [late[0] + timedelta(seconds=s) for s in range(len(late))]


def test_a_standby_logs_a_locked_store_once_and_leads_when_the_lock_is_gone(
    world: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="jobs.beat")
    standby = world.runner("b")
    holder = sqlite3.connect(world.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        run(world, [standby], 20.0)
        assert standby.outage is not None and not standby.leading
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    run(world, [standby], 6.0)
    assert standby.leading
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "store lost" in m]) == 1
    assert len([m for m in messages if "store back" in m]) == 1
