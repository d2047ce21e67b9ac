"""Real ``celery -A jobs beat`` processes: a standby takes over from a leader killed with
kill -9, a beat with 10,000 schedules stops on SIGTERM and hands its lease over, and a beat
whose broker is down backs off instead of spinning."""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection
from sqlalchemy import insert, update

from broker import declare
from broker.topology import describe
from jobs.factory import create_celery_app, load_registry
from jobs.schedules.definition import ScheduleDefinition
from jobs.schedules.kinds import CatchUp, TriggerKind
from jobs.services.schedules import ScheduleManager
from jobs.settings import JobsSettings
from jobs.store.lease import LeaseStatus, LeaseStore
from jobs.store.migrate import upgrade
from jobs.store.tables import scheduler_state, schedules
from tests.conftest import settings_env
from tests.support.databases import usable_postgres_database
from tests.support.processes import free_port, running
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]
BEAT = ["-m", "celery", "-A", "jobs", "beat", "-l", "INFO"]


@pytest.fixture
def beat_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLite unless a test asks for PostgreSQL (``indirect`` parameter "postgres")."""
    if getattr(request, "param", "sqlite") == "sqlite":
        url = f"sqlite:///{tmp_path / 'beat.db'}"
        upgrade(url)
        yield url
        return
    with usable_postgres_database() as url:
        yield url


@pytest.fixture
def stack(rabbitmq_url: str, session_id: str, tmp_path: Path, beat_database: str) -> Iterator[Any]:
    database_url = beat_database
    env = settings_env(f"bk-beat-{session_id}-{tmp_path.name[-6:]}", database_url)
    env["BEATKEEPER_JOB_MODULES"] = "jobs.examples,tests.support.testjobs"
    settings = JobsSettings.from_env(env)
    topology = describe(settings.broker)
    with Connection(rabbitmq_url) as conn:
        declare.declare(conn, topology)
    app = create_celery_app(settings, load_registry(env["BEATKEEPER_JOB_MODULES"]))

    class Stack:
        pass

    s: Any = Stack()
    s.env, s.app, s.tmp = env, app, tmp_path
    s.lease = LeaseStore(app.store.engine)
    s.manager = ScheduleManager(app)
    try:
        yield s
    finally:
        app.store.engine.dispose()
        with Connection(rabbitmq_url) as conn:
            declare.delete(conn, topology)


def leader(stack: Any) -> LeaseStatus | None:
    status: LeaseStatus = stack.lease.read()
    return status if status.held(datetime.now(UTC)) else None


def scheduled_fires(stack: Any, name: str) -> list[datetime]:
    runs = stack.app.store.list(schedule=name, limit=10_000)
    return sorted(r.scheduled_for for r in runs if r.state not in ("SKIPPED", "CANCELLED"))


@pytest.mark.parametrize(
    "beat_database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_a_standby_beat_takes_over_within_two_seconds_of_a_kill_9_and_fires_without_duplicates(
    stack: Any,
) -> None:
    definition = ScheduleDefinition(
        name="every-second",
        job="add",
        trigger=TriggerKind.INTERVAL,
        interval_seconds=1,
        kwargs={"x": 1},
        catch_up=CatchUp.ALL,
    )
    stack.manager.create(definition, by="test")
    with running("beat-a", BEAT, stack.env, stack.tmp) as first:
        first_lease = wait_for(lambda: leader(stack), 30)
        with running("beat-b", BEAT, stack.env, stack.tmp):
            wait_for(
                lambda: "starting; it leads once" in (stack.tmp / "beat-b.log").read_text(), 30
            )
            wait_for(lambda: len(scheduled_fires(stack, "every-second")) >= 3, 15)
            os.killpg(first.pid, signal.SIGKILL)
            killed_at = datetime.now(UTC)
            first.wait(5)

            def taken_over() -> LeaseStatus | None:
                current = leader(stack)
                return current if current and current.owner != first_lease.owner else None

            second_lease = wait_for(taken_over, 10)
            assert second_lease.epoch == first_lease.epoch + 1
            assert second_lease.acquired_at is not None
            takeover = (second_lease.acquired_at - killed_at).total_seconds()
            assert takeover < 2.0, f"standby took {takeover:.2f} s to lead"
            wait_for(
                lambda: any(t > killed_at + timedelta(seconds=2)
                            for t in scheduled_fires(stack, "every-second")),
                15,
            )  # fmt: skip
    fires = scheduled_fires(stack, "every-second")
    assert len(fires) == len(set(fires)), "a fire was recorded twice"
    gaps = [b - a for a, b in itertools.pairwise(fires)]
    assert all(gap == timedelta(seconds=1) for gap in gaps), "catch_up=all lost a fire"
    ids = [r.id for r in stack.app.store.list(schedule="every-second", limit=10_000)]
    assert len(ids) == len(set(ids))
    # Two beats ran: the schedule's counter is what was sent, not one per beat.
    assert stack.manager.get("every-second").fired_count == len(ids)


def insert_schedules(stack: Any, count: int, first_fire: datetime) -> None:
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "job": "add",
        "args": [],
        "kwargs": {"x": 1},
        "queue": None,
        "priority": None,
        "trigger": "interval",
        "cron": None,
        "interval_seconds": 60,
        "run_at": None,
        "timezone": "UTC",
        "expires_seconds": None,
        "jitter_seconds": 0,
        "catch_up": "skip",
        "catch_up_window_seconds": 3600,
        "overlap": "allow",
        "enabled": True,
        "changed_by": "test",
        "changed_at": now,
        "change_reason": None,
        "source": "runtime",
        "edited_at": now,
        "created_at": now,
        "version": 1,
        "deleted": False,
        "anchor": first_fire - timedelta(seconds=60),
        "next_fire_at": first_fire,
        "last_fire_at": None,
        "last_run_id": None,
        "fired_count": 0,
        "skipped_count": 0,
        "missed_count": 0,
    }
    with stack.app.store.engine.begin() as conn:
        conn.execute(insert(schedules), [{**base, "name": f"bulk-{i:05d}"} for i in range(count)])
        conn.execute(update(scheduler_state).values(value=1))


def exits_by_itself(beat: subprocess.Popen[bytes], within: float = 30.0) -> int:
    """SIGTERM, then the exit status; how long it took is ``benchmarks.beat_faults``' job.

    ``within`` is only a bound for a hang (the fixture would SIGKILL it), counted from the
    signal and generous for a loaded machine; it is not the claim.
    """
    beat.send_signal(signal.SIGTERM)
    try:
        return beat.wait(within)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the beat did not exit within {within:g} s of SIGTERM")


def test_a_beat_with_ten_thousand_schedules_stops_on_sigterm_mid_burst_and_hands_over(
    stack: Any,
) -> None:
    insert_schedules(stack, 10_000, datetime.now(UTC) + timedelta(seconds=12))
    with running("beat-big", BEAT, stack.env, stack.tmp) as beat:
        wait_for(lambda: leader(stack), 30)
        # Stop it in the middle of its burst: 10,000 fires go out ahead of their time.
        wait_for(lambda: len(stack.app.store.list(limit=10)) > 0, 30)
        assert exits_by_itself(beat) == 0
    status = stack.lease.read()
    assert status.owner is None, "the lease was not released"
    assert "lease released" in (stack.tmp / "beat-big.log").read_text()


def renewed_since(lease: LeaseStore, moment: datetime) -> LeaseStatus:
    """Wait until the beat renews its lease after ``moment``: its loop is alive and serving."""

    def renewed() -> LeaseStatus | None:
        status = lease.read()
        ok = status.held(datetime.now(UTC)) and (status.renewed_at or moment) > moment
        return status if ok else None

    result: LeaseStatus = wait_for(renewed, 15)
    return result


def test_a_beat_whose_broker_is_down_backs_off_and_logs_the_outage_once(stack: Any) -> None:
    stack.manager.create(
        ScheduleDefinition(
            name="busy",
            job="add",
            trigger=TriggerKind.INTERVAL,
            interval_seconds=1,
            kwargs={"x": 1},
        ),
        by="test",
    )
    env = {**stack.env, "BEATKEEPER_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}//"}
    with running("beat-nobroker", BEAT, env, stack.tmp) as beat:
        log = stack.tmp / "beat-nobroker.log"
        wait_for(lambda: "broker lost" in log.read_text(), 30)
        renewed_since(stack.lease, datetime.now(UTC))  # it keeps its lease while the broker is away
        assert beat.poll() is None, "the beat exited"
        text = log.read_text()
        assert text.count("broker lost") == 1, "an outage is logged once, not per retry"
        assert text.count("Traceback") == 0
        assert exits_by_itself(beat) == 0
    assert scheduled_fires(stack, "busy") == []


def test_a_beat_locked_out_of_its_sqlite_store_stops_on_sigterm_and_a_standby_leads_after_expiry(
    stack: Any,
) -> None:
    stack.manager.create(
        ScheduleDefinition(
            name="locked",
            job="add",
            trigger=TriggerKind.INTERVAL,
            interval_seconds=1,
            kwargs={"x": 1},
        ),
        by="test",
    )
    with contextlib.ExitStack() as processes:
        beat = processes.enter_context(running("beat-locked", BEAT, stack.env, stack.tmp))
        log = stack.tmp / "beat-locked.log"
        first = wait_for(lambda: leader(stack), 30)
        processes.enter_context(running("beat-standby", BEAT, stack.env, stack.tmp))
        path = stack.env["DATABASE_URL"].removeprefix("sqlite:///")
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")  # the write lock, as another process would hold it
        try:
            wait_for(lambda: "store lost" in log.read_text(), 20)
            assert beat.poll() is None, "the beat exited"
            # Still locked out: it gives up releasing its lease after a moment and exits (the
            # issue asks for 2 s, measured by benchmarks.beat_faults; 5 s is a bound for a hang).
            assert exits_by_itself(beat, within=5.0) == 0
            assert "could not release the lease" in log.read_text()
        finally:
            holder.execute("ROLLBACK")
            holder.close()

        def taken_over() -> LeaseStatus | None:
            current = leader(stack)
            return current if current and current.owner != first.owner else None

        # The lease it could not release expires, and the standby takes it with the next epoch.
        assert wait_for(taken_over, 30).epoch == first.epoch + 1
    text = log.read_text()
    assert text.count("store lost") == 1 and "Traceback" not in text


def test_a_beat_locked_out_of_its_sqlite_store_fires_again_once_the_lock_is_released(
    stack: Any,
) -> None:
    stack.manager.create(
        ScheduleDefinition(
            name="relocked",
            job="add",
            trigger=TriggerKind.INTERVAL,
            interval_seconds=1,
            kwargs={"x": 1},
            catch_up=CatchUp.LATEST,
        ),
        by="test",
    )
    with running("beat-relocked", BEAT, stack.env, stack.tmp) as beat:
        log = stack.tmp / "beat-relocked.log"
        wait_for(lambda: len(scheduled_fires(stack, "relocked")) >= 1, 30)
        path = stack.env["DATABASE_URL"].removeprefix("sqlite:///")
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            wait_for(lambda: "store lost" in log.read_text(), 20)
            locked_at = datetime.now(UTC)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        released_at = datetime.now(UTC)
        wait_for(lambda: "store back" in log.read_text(), 20)
        wait_for(lambda: any(t > released_at for t in scheduled_fires(stack, "relocked")), 20)
        assert exits_by_itself(beat) == 0
    fires = scheduled_fires(stack, "relocked")
    assert len(fires) == len(set(fires))
    # catch_up=latest: at most one fire for the seconds the store was locked.
    assert sum(locked_at + timedelta(seconds=1) < t < released_at for t in fires) <= 1
    text = log.read_text()
    assert text.count("store lost") == text.count("store back") == 1
    assert "Traceback" not in text
