"""The run store on PostgreSQL: migrations, the enqueue insert and the worker's upserts."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from jobs.store import RunStore, make_engine
from jobs.store.attempts import AttemptFinished, AttemptKey, AttemptStarted, Outcome
from jobs.store.migrate import upgrade
from jobs.store.runs import NewRun
from tests.conftest import POSTGRES_URL, unavailable

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


@pytest.fixture
def postgres_store() -> Iterator[RunStore]:
    """A fresh database per test, dropped afterwards."""
    admin_url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg")
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"bk_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to create the database means skip
        admin.dispose()
        unavailable(f"PostgreSQL not usable at {POSTGRES_URL}: {exc}")
    url = admin_url.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    engine = make_engine(url)
    try:
        yield RunStore(engine)
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def test_a_run_goes_from_pending_through_a_retry_to_success_on_postgresql(
    postgres_store: RunStore,
) -> None:
    t0 = datetime.now(UTC)
    new = NewRun("run-1", "add", "bk.default", {"x": 1})
    with postgres_store.engine.begin() as conn:
        postgres_store.insert_pending(conn, [new], t0)

    first, second = AttemptKey(0, 0), AttemptKey(1, 0)
    postgres_store.start_attempt(AttemptStarted(new, first, "w1", t0 + timedelta(seconds=1)))
    postgres_store.finish_attempt(
        AttemptFinished(
            new, first, Outcome.RETRY, t0 + timedelta(seconds=2), error="Boom: x", retry_in=2.0
        )
    )
    postgres_store.start_attempt(AttemptStarted(new, second, "w1", t0 + timedelta(seconds=4)))
    postgres_store.finish_attempt(
        AttemptFinished(new, second, Outcome.SUCCESS, t0 + timedelta(seconds=5), result={"ok": 1})
    )

    record = postgres_store.get("run-1")
    assert record is not None
    assert (record.state, record.attempts, record.result) == ("SUCCESS", 2, {"ok": 1})
    assert record.enqueued_at == t0
    assert [a.outcome for a in record.history] == ["RETRY", "SUCCESS"]
    assert record.history[0].retry_in == 2.0
    assert record.runtime_ms == pytest.approx(1000.0)


def test_a_worker_that_starts_a_run_sent_by_plain_celery_creates_its_row(
    postgres_store: RunStore,
) -> None:
    at = datetime.now(UTC)
    new = NewRun("run-2", "add", "bk.default", {"x": 2})
    postgres_store.start_attempt(AttemptStarted(new, AttemptKey(0, 0), "w", at))
    postgres_store.finish_attempt(
        AttemptFinished(
            new,
            AttemptKey(0, 0),
            Outcome.FAILURE,
            at + timedelta(seconds=1),
            error="Boom",
            traceback="Traceback...",
            dead_lettered=True,
        )
    )
    record = postgres_store.get("run-2")
    assert record is not None
    assert (record.state, record.dead_lettered, record.error) == ("FAILURE", True, "Boom")


def test_old_finished_runs_are_deleted_and_recent_ones_kept(postgres_store: RunStore) -> None:
    now = datetime.now(UTC)
    with postgres_store.engine.begin() as conn:
        postgres_store.insert_pending(
            conn, [NewRun("old", "add", "q", {})], now - timedelta(days=40)
        )
        postgres_store.insert_pending(conn, [NewRun("new", "add", "q", {})], now)
    for run_id in ("old", "new"):
        new = NewRun(run_id, "add", "q", {})
        postgres_store.start_attempt(AttemptStarted(new, AttemptKey(0, 0), "w", now))
        postgres_store.finish_attempt(AttemptFinished(new, AttemptKey(0, 0), Outcome.SUCCESS, now))
    assert postgres_store.delete_finished_before(now - timedelta(days=30)) == 1
    assert [r.id for r in postgres_store.list()] == ["new"]
