"""The beat's lease and fence on real SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from jobs.store import make_engine
from jobs.store.lease import Fence, LeaseStore
from jobs.store.probe import write_probe
from tests.support.databases import sqlite_database

pytestmark = [pytest.mark.integration]
T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
TTL = 1.5


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_only_one_of_two_beats_gets_a_free_lease(store_engine: Engine) -> None:
    lease = LeaseStore(store_engine)
    first = lease.try_acquire("a", T0, TTL)
    second = lease.try_acquire("b", T0, TTL)
    assert first is not None and second is None
    status = lease.read()
    assert (status.owner, status.epoch, status.acquired_at) == ("a", first.epoch, T0)
    assert status.held(at(1)) and not status.held(at(2))


def test_a_standby_takes_an_expired_lease_with_a_new_epoch_and_the_old_leader_is_fenced(
    store_engine: Engine,
) -> None:
    lease = LeaseStore(store_engine)
    old = lease.try_acquire("a", T0, TTL)
    assert old is not None
    assert lease.try_acquire("b", at(1), TTL) is None  # still fresh
    new = lease.try_acquire("b", at(2), TTL)
    assert new is not None and new.epoch == old.epoch + 1
    assert lease.renew(old, at(2.1), TTL) is False
    with store_engine.begin() as conn:
        assert lease.hold(conn, old, at(2.1), TTL) is False
        assert lease.hold(conn, new, at(2.1), TTL, evaluated=True) is True
    assert lease.read().evaluated_at == at(2.1)


def test_a_graceful_release_lets_a_standby_in_at_once(store_engine: Engine) -> None:
    lease = LeaseStore(store_engine)
    fence = lease.try_acquire("a", T0, TTL)
    assert fence is not None
    assert lease.release(fence, at(0.1)) is True
    taken = lease.try_acquire("b", at(0.2), TTL)
    assert taken == Fence("b", fence.epoch + 1)


def test_a_release_gives_up_after_a_moment_while_another_transaction_holds_the_lock(
    store_engine: Engine,
) -> None:
    lease = LeaseStore(store_engine)
    fence = lease.try_acquire("a", T0, TTL)
    assert fence is not None
    # SQLite's write lock, or PostgreSQL's lock on the lease row:
    with store_engine.begin() as other:
        assert lease.hold(other, fence, at(0.1), TTL)
        started = time.monotonic()
        with pytest.raises(OperationalError):
            lease.release(fence, at(0.2), wait=0.2)
        waited = time.monotonic() - started
    # Any other write waits 10 s for SQLite's lock, and for PostgreSQL's without end.
    assert waited < 5.0, f"the release waited {waited:.1f} s for the lock"
    assert lease.read().owner == "a"  # left to expire: a standby takes it then
    assert lease.try_acquire("b", at(0.1 + TTL), TTL) == Fence("b", fence.epoch + 1)


def test_a_standby_cannot_take_over_while_the_leader_records_fires_under_its_fence(
    store_engine: Engine,
) -> None:
    lease = LeaseStore(store_engine)
    fence = lease.try_acquire("a", T0, TTL)
    assert fence is not None
    outcome: list[Fence | None] = []
    attempt = threading.Thread(target=lambda: outcome.append(lease.try_acquire("b", at(2), TTL)))
    with store_engine.begin() as conn:
        # The leader was slow: its lease ran out at 1.5, and it renews at 1.9 while a standby
        # tries at 2.0. The renewal holds the row until commit; the standby then finds it fresh.
        assert lease.hold(conn, fence, at(1.9), TTL)
        attempt.start()
        attempt.join(0.3)
        assert attempt.is_alive() or outcome == [None]
    attempt.join(15)
    assert outcome == [None]
    assert lease.read().owner == "a"


def test_the_write_probe_passes_on_a_writable_store(store_engine: Engine) -> None:
    write_probe(store_engine, "health", T0, timeout=1.0)
    write_probe(store_engine, "health", at(1), timeout=1.0)


def test_the_write_probe_fails_quickly_while_another_process_holds_the_sqlite_write_lock(
    tmp_path: Path,
) -> None:
    import sqlite3

    from sqlalchemy.exc import OperationalError

    url = sqlite_database(tmp_path)
    engine = make_engine(url)
    holder = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # the write lock, as another process would hold it
    try:
        with engine.connect() as conn:  # reads still pass: this is why SELECT 1 is not enough
            conn.exec_driver_sql("SELECT 1")
        with pytest.raises(OperationalError, match="locked"):
            write_probe(engine, "health", T0, timeout=0.2)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    write_probe(engine, "health", T0, timeout=0.2)
    engine.dispose()
