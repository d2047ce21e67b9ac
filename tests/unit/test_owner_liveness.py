"""A delivery never runs a run that a live process is still running (jobs.worker.owners):
the rules as a pure function, liveness from /proc and heartbeats, and the outbox waiting for
a live owner on a real SQLite store with real processes as owners."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from jobs.store import RunStore, make_engine
from jobs.store.attempts import AttemptFinished, AttemptKey, AttemptStarted, Outcome
from jobs.store.owners import SeenAttempt, StartView
from jobs.store.runs import NewRun
from jobs.worker.outbox import Outbox
from jobs.worker.owners import LAPSE, Verdict, alive, decide, this_process

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
RUN = NewRun("run-owned", "add", "bk.default", {"x": 1})
K0, K1 = AttemptKey(0, 0), AttemptKey(0, 1)


def seen(key: AttemptKey, finished: bool = False, outcome: str | None = None) -> SeenAttempt:
    return SeenAttempt(key, finished, outcome, "other-host/1/1", None)


def verdict(view: StartView, key: AttemptKey = K1, live: bool = True) -> Verdict:
    return decide(view, key, "me", lambda _: live)


def test_a_redelivery_waits_while_the_live_owner_of_the_open_attempt_runs_it() -> None:
    assert verdict(StartView("STARTED", (seen(K0),))) is Verdict.WAIT


def test_a_redelivery_runs_when_the_owner_of_the_open_attempt_is_dead() -> None:
    assert verdict(StartView("STARTED", (seen(K0),)), live=False) is Verdict.RUN


def test_a_finished_run_or_a_newer_attempt_is_skipped() -> None:
    assert verdict(StartView("SUCCESS", (seen(K0, True, "SUCCESS"),))) is Verdict.SKIP
    assert verdict(StartView("STARTED", (seen(AttemptKey(1, 0)),)), key=K1) is Verdict.SKIP
    # A waiting run, the next retry message, and a redelivery after a retry was sent run.
    assert verdict(StartView("PENDING")) is Verdict.RUN
    assert verdict(StartView("RETRY", (seen(K0, True, "RETRY"),)), AttemptKey(1, 0)) is Verdict.RUN
    assert verdict(StartView("RETRY", (seen(K0, True, "RETRY"),))) is Verdict.RUN


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield process
    process.kill()
    process.wait()


def owned_by(owner: str, beat_at: datetime | None = None) -> SeenAttempt:
    return SeenAttempt(K0, False, None, owner, beat_at)


def owner_of(process: subprocess.Popen[bytes]) -> str:
    ticks = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    return f"{this_process().split('/')[0]}/{process.pid}/{ticks}"


def test_a_process_on_this_host_is_alive_until_killed_and_a_reused_pid_is_not_it(
    child: subprocess.Popen[bytes],
) -> None:
    now = datetime.now(UTC)
    owner = owner_of(child)
    assert alive(owned_by(owner), now)
    assert not alive(owned_by(owner.rsplit("/", 1)[0] + "/1"), now)  # same pid, other start

    child.kill()
    child.wait()

    assert not alive(owned_by(owner), now)


def test_an_owner_on_another_host_is_alive_while_its_heartbeat_is_fresh() -> None:
    now = datetime.now(UTC)
    assert alive(owned_by("elsewhere/12/34", now - timedelta(seconds=1)), now)
    assert not alive(owned_by("elsewhere/12/34", now - timedelta(seconds=LAPSE + 1)), now)
    assert not alive(owned_by("elsewhere/12/34", None), now)


def test_a_redelivery_waits_for_a_live_owner_to_finish_then_is_not_run_again(
    free_sqlite_url: str, tmp_path: Path, child: subprocess.Popen[bytes]
) -> None:
    store = RunStore(make_engine(free_sqlite_url))
    # Another process (the child) started the run; its ack was lost with the broker.
    store.start_attempt(AttemptStarted(RUN, K0, "w1", T0, owner=owner_of(child)))
    finish = AttemptFinished(RUN, K0, Outcome.SUCCESS, T0, result=2)
    threading.Timer(1.0, lambda: store.apply([finish])).start()
    outbox = Outbox(store, tmp_path / "outbox")
    try:
        began = time.monotonic()
        again = outbox.start(AttemptStarted(RUN, K1, "w2", T0), redelivered=True, wait=30)

        assert again is False
        assert time.monotonic() - began >= 0.9
        record = store.get(RUN.id)
        assert record is not None
        assert [(a.outcome, a.worker) for a in record.history] == [("SUCCESS", "w1")]
    finally:
        outbox.stop()


def test_a_redelivery_takes_over_at_once_when_the_owner_died(
    free_sqlite_url: str, tmp_path: Path, child: subprocess.Popen[bytes]
) -> None:
    store = RunStore(make_engine(free_sqlite_url))
    store.start_attempt(AttemptStarted(RUN, K0, "w1", T0, owner=owner_of(child)))
    child.kill()
    child.wait()
    outbox = Outbox(store, tmp_path / "outbox")
    try:
        began = time.monotonic()
        assert outbox.start(AttemptStarted(RUN, K1, "w2", T0), redelivered=True, wait=30)
        assert time.monotonic() - began < 5
        assert outbox.flush()
        record = store.get(RUN.id)
        assert record is not None
        history = [(a.outcome, a.worker) for a in record.history]
        assert history == [("WORKER_LOST", "w1"), (None, "w2")]
    finally:
        outbox.stop()


def test_a_finish_committed_while_a_delivery_reads_is_seen_whole_and_the_run_is_skipped(
    free_sqlite_url: str,
) -> None:
    store = RunStore(make_engine(free_sqlite_url))
    owner = RunStore(make_engine(free_sqlite_url))  # the other process, its own connections
    owner.start_attempt(AttemptStarted(RUN, K0, "w1", T0, owner="other-host/1/1"))
    finish = AttemptFinished(RUN, K0, Outcome.SUCCESS, T0, result=2)
    reads: list[str] = []

    def finish_after_the_first_read(*args: object) -> None:
        reads.append(str(args[2]))
        if len(reads) == 1:  # the owner's finish lands between the delivery's reads
            writer = threading.Thread(target=owner.apply, args=([finish],))
            writer.start()
            writer.join()

    event.listen(store.engine, "after_cursor_execute", finish_after_the_first_read)
    view = store.start_view(RUN.id)

    assert len(reads) == 2
    assert view.state == "SUCCESS"
    assert decide(view, K1, "me", lambda _: True) is Verdict.SKIP
