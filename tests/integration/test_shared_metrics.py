"""Counters counted by one web process and read by all, on real SQLite and PostgreSQL: the
same values from every process, a takeover that never goes back, a refused flush that lands
once, and a deposed leader fenced off."""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy import Engine, event, select, text, update
from sqlalchemy.exc import OperationalError

from jobs.monitoring.changes import ChangeFeed
from jobs.monitoring.counting import SharedCounts
from jobs.monitoring.metrics import TaskMetrics
from jobs.store.attempts import AttemptFinished, AttemptKey, AttemptStarted, Outcome
from jobs.store.changes import StoreChanges
from jobs.store.lease import Fence
from jobs.store.metric_totals import Batch, MetricTotals
from jobs.store.runs import NewRun, RunStore
from jobs.store.tables import beat_lease
from tests.support.clocks import ManualClock

pytestmark = [pytest.mark.integration]
T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
TTL = 10.0


class WebProcess:
    """What one web process runs for /metrics: its feed, its counter, its collector."""

    def __init__(
        self, engine: Engine, owner: str, clock: ManualClock, totals: MetricTotals
    ) -> None:
        changes = StoreChanges(engine)
        self.feed = ChangeFeed(changes, clock=clock)
        self.counts = SharedCounts(totals, changes, owner, clock=clock, ttl=TTL)
        self.feed.subscribe(self.counts)
        self.registry = CollectorRegistry()
        TaskMetrics(self.registry, MetricTotals(engine), cache_seconds=0)

    def tick(self) -> None:
        """A feed poll, then the counter's step (the two threads' work, in order)."""
        self.feed.poll()
        self.counts.step()

    def value(self, sample: str) -> float:
        found = re.search(rf"^{re.escape(sample)} (\S+)$", self.scrape(), re.M)
        return float(found.group(1)) if found else 0.0

    def scrape(self) -> str:
        return generate_latest(self.registry).decode()


SUCCEEDED = 'celery_task_succeeded_total{hostname="w1",name="add",queue_name="q"}'
SENT = 'celery_task_sent_total{hostname="generic",name="add",queue_name="q"}'
RUNTIME_COUNT = 'celery_task_runtime_count{hostname="w1",name="add",queue_name="q"}'


def run(store: RunStore, run_id: str, clock: ManualClock) -> None:
    """A run enqueued, started and succeeded, at the clock's time."""
    new = NewRun(run_id, "add", "q", {})
    with store.engine.begin() as conn:
        store.insert_pending(conn, [new], clock())
    key = AttemptKey(0, 1)
    store.start_attempt(AttemptStarted(new, key, "w1", clock() + timedelta(seconds=0.1)))
    finished = clock() + timedelta(seconds=0.2)
    store.finish_attempt(AttemptFinished(new, key, Outcome.SUCCESS, finished, "w1"))


def processes(engine: Engine, clock: ManualClock, n: int = 2) -> list[WebProcess]:
    webs = [WebProcess(engine, f"web-{i}", clock, MetricTotals(engine)) for i in range(n)]
    for web in webs:
        web.tick()  # the first one takes the lease
    return webs


def settle(webs: list[WebProcess], clock: ManualClock, rounds: int = 2) -> None:
    for _ in range(rounds):
        clock.advance(1)
        for web in webs:
            web.tick()


def test_two_web_processes_scrape_the_same_totals_equal_to_the_events_once(
    store_engine: Engine,
) -> None:
    clock = ManualClock(T0)
    store = RunStore(store_engine)
    webs = processes(store_engine, clock)
    assert [w.counts.fence is not None for w in webs] == [True, False]
    for i in range(5):
        clock.advance(0.5)
        run(store, f"r{i}", clock)
    settle(webs, clock)
    scrapes = [w.scrape() for w in webs]
    assert scrapes[0] == scrapes[1], "every web process shows the same counters"
    assert webs[1].value(SUCCEEDED) == 5 and webs[1].value(SENT) == 5
    assert webs[0].value(RUNTIME_COUNT) == 5


def test_when_the_leader_stops_the_other_takes_over_and_no_value_goes_down(
    store_engine: Engine,
) -> None:
    clock = ManualClock(T0)
    store = RunStore(store_engine)
    first, second = processes(store_engine, clock)
    run(store, "before", clock)
    settle([first, second], clock)
    assert second.value(SUCCEEDED) == 1
    clock.advance(1)
    run(store, "unflushed", clock)
    first.feed.poll()  # counted by the leader, not flushed yet
    first.counts.stop()  # a graceful stop flushes and gives the lease up
    seen = [second.value(SUCCEEDED)]
    second.counts.step()
    assert second.counts.fence is not None, "the standby leads at once"
    second.feed.poll()  # its feed was behind: it delivers the run the old leader counted
    clock.advance(1)
    run(store, "after", clock)
    settle([second], clock)
    seen.append(second.value(SUCCEEDED))
    assert seen == [2, 3], "every run counted once, and the counter never went back"


def test_a_leader_that_dies_unflushed_is_replaced_and_its_runs_are_counted_once(
    store_engine: Engine,
) -> None:
    clock = ManualClock(T0)
    store = RunStore(store_engine)
    first, second = processes(store_engine, clock)
    run(store, "flushed", clock)
    settle([first, second], clock)
    clock.advance(1)
    run(store, "lost-with-the-leader", clock)
    first.feed.poll()  # the leader counted it, then died (kill -9): nothing more from it
    while second.counts.fence is None:  # the lease runs out; the standby takes over
        clock.advance(1)
        second.counts.step()  # its feed is behind: it reads the run from the store first
        assert second.value(SUCCEEDED) == 1
    second.feed.poll()  # then its feed delivers the same run
    settle([second], clock)
    assert second.value(SUCCEEDED) == 2 and second.value(SENT) == 2


def hold_a_write_lock(engine: Engine) -> Any:
    """Another connection holding the lock a flush needs: the whole SQLite file, or the
    metrics lease row on PostgreSQL."""
    conn = engine.connect()
    if engine.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.begin()
        conn.execute(select(beat_lease).where(beat_lease.c.name == "metrics").with_for_update())
    return conn


def test_a_flush_refused_by_a_locked_store_lands_once_when_the_lock_is_gone(
    store_engine: Engine,
) -> None:
    clock = ManualClock(T0)
    store = RunStore(store_engine)
    webs = processes(store_engine, clock)
    leader = webs[0].counts
    leader.store.wait = 0.1
    run(store, "r1", clock)
    webs[0].feed.poll()
    blocker = hold_a_write_lock(store_engine)
    clock.advance(1)
    with pytest.raises(OperationalError):
        leader.step()
    blocker.rollback()
    blocker.close()
    assert webs[1].value(SUCCEEDED) == 0
    settle(webs, clock)
    assert webs[1].value(SUCCEEDED) == 1 and webs[1].value(SENT) == 1


def test_a_flush_cut_by_a_closed_connection_lands_once_on_the_next_try(
    store_engine: Engine,
) -> None:
    clock = ManualClock(T0)
    store = RunStore(store_engine)
    webs = processes(store_engine, clock)
    run(store, "r1", clock)
    webs[0].feed.poll()
    cut = threading.Event()

    def close_mid_transaction(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if cut.is_set() and "metric_totals" in statement:
            cut.clear()
            conn.connection.dbapi_connection.close()

    event.listen(store_engine, "before_cursor_execute", close_mid_transaction)
    cut.set()
    clock.advance(1)
    with pytest.raises(Exception):  # noqa: B017 - the driver's own "closed" error
        webs[0].counts.step()
    assert not cut.is_set(), "the connection was cut inside the flush"
    event.remove(store_engine, "before_cursor_execute", close_mid_transaction)
    settle(webs, clock)
    assert webs[1].value(SUCCEEDED) == 1 and webs[1].value(SENT) == 1


class AnswerLost(MetricTotals):
    """A store whose flush commits but whose answer is lost once (a cut after COMMIT)."""

    lose_next = False

    def flush(self, fence: Fence, batch: Batch, now: datetime, ttl: float) -> bool:
        held = super().flush(fence, batch, now, ttl)
        if self.lose_next:
            self.lose_next = False
            raise OperationalError("COMMIT", {}, Exception("connection reset"))
        return held


def test_a_flush_whose_commit_answer_was_lost_is_not_added_again(store_engine: Engine) -> None:
    clock = ManualClock(T0)
    store = RunStore(store_engine)
    flaky = AnswerLost(store_engine)
    leader = WebProcess(store_engine, "web-0", clock, flaky)
    leader.tick()
    run(store, "r1", clock)
    leader.feed.poll()
    flaky.lose_next = True
    clock.advance(1)
    with pytest.raises(OperationalError):
        leader.counts.step()
    clock.advance(1)
    leader.tick()
    assert leader.value(SUCCEEDED) == 1, "the mark showed the flush had landed"


def test_a_deposed_leaders_flush_is_refused_by_the_fence_and_adds_nothing(
    store_engine: Engine,
) -> None:
    clock = ManualClock(T0)
    store = RunStore(store_engine)
    first, second = processes(store_engine, clock)
    run(store, "r1", clock)
    first.feed.poll()  # counted by the leader, not flushed
    # The leader stalls past its lease (a long GC pause): the standby takes over.
    with store_engine.begin() as conn:
        conn.execute(update(beat_lease).where(beat_lease.c.name == "metrics").values(expires_at=T0))
    second.tick()
    assert second.counts.fence is not None
    settle([second], clock)
    assert second.value(SUCCEEDED) == 1, "the new leader counted the run from the store"
    clock.advance(1)
    first.counts.step()  # wakes up and flushes with its old epoch
    assert first.counts.fence is None, "the fence told it that it no longer leads"
    assert second.value(SUCCEEDED) == 1 and first.value(SENT) == 1
    with store_engine.connect() as conn:
        owner = conn.execute(text("SELECT owner FROM beat_lease WHERE name = 'metrics'"))
        assert owner.scalar_one() == "web-1"
