"""A redelivered message whose run this process finished but has not yet written is not run
again: the outbox drains its journal before it answers (real SQLite store, real journal)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from jobs.store import RunStore, make_engine
from jobs.store.attempts import AttemptFinished, AttemptKey, AttemptStarted, Outcome
from jobs.store.owners import StartView
from jobs.store.runs import NewRun
from jobs.worker.journal import Journal
from jobs.worker.outbox import Outbox

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
RUN = NewRun("run-twice", "add", "bk.default", {"x": 1})


class HeldOutbox(Outbox):
    """An outbox whose writer starts only when ``release`` is set: a busy writer, on demand."""

    def __init__(self, store: RunStore, directory: Path) -> None:
        self.release = threading.Event()
        super().__init__(store, directory)

    def _loop(self) -> None:
        self.release.wait()
        super()._loop()


def test_a_redelivery_of_a_run_finished_but_not_yet_written_is_not_run_again(
    free_sqlite_url: str, tmp_path: Path
) -> None:
    store = RunStore(make_engine(free_sqlite_url))
    outbox = HeldOutbox(store, tmp_path / "outbox")
    try:
        assert outbox.start(AttemptStarted(RUN, AttemptKey(0, 0), "w1", T0))
        # The job finished; its finish waits in the journal, and the ack is lost with the broker.
        outbox.put(AttemptFinished(RUN, AttemptKey(0, 0), Outcome.SUCCESS, T0, result=2))
        assert outbox.journal.pending() == 2  # its start and its finish
        threading.Timer(0.3, outbox.release.set).start()

        again = outbox.start(AttemptStarted(RUN, AttemptKey(0, 1), "w1", T0), redelivered=True)

        assert again is False
        record = store.get(RUN.id)
        assert record is not None
        assert (record.state, record.attempts) == ("SUCCESS", 1)
    finally:
        outbox.release.set()
        outbox.stop()


def test_a_first_delivery_does_not_wait_for_the_journal(
    free_sqlite_url: str, tmp_path: Path
) -> None:
    store = RunStore(make_engine(free_sqlite_url))
    outbox = HeldOutbox(store, tmp_path / "outbox")
    try:
        other = NewRun("other", "add", "bk.default", {"x": 2})
        outbox.put(AttemptFinished(other, AttemptKey(0, 0), Outcome.SUCCESS, T0, result=2))

        # Journaled behind the pending event, without waiting for the (held) writer.
        assert outbox.start(AttemptStarted(RUN, AttemptKey(0, 0), "w1", T0)) is True
        assert outbox.journal.pending() == 2
    finally:
        outbox.release.set()
        outbox.stop()


class FirstLookStore(RunStore):
    """A run store that sets ``looked`` when a delivery first reads a run's start view."""

    def __init__(self, url: str) -> None:
        super().__init__(make_engine(url))
        self.looked = threading.Event()

    def start_view(self, run_id: str) -> StartView:
        view = super().start_view(run_id)
        self.looked.set()
        return view


def assert_a_second_worker_does_not_run_it_again(store: RunStore, folder: Path) -> None:
    """A redelivery to another process's outbox in ``folder`` is skipped: the run stays
    SUCCESS with its one attempt."""
    outbox = Outbox(store, folder)
    try:
        again = outbox.start(AttemptStarted(RUN, AttemptKey(0, 1), "w2", T0), redelivered=True)
    finally:
        outbox.stop()

    assert again is False
    record = store.get(RUN.id)
    assert record is not None
    assert (record.state, record.attempts) == ("SUCCESS", 1)


def test_a_redelivery_waits_for_another_process_draining_the_dead_owners_journal(
    free_sqlite_url: str, tmp_path: Path
) -> None:
    # A worker was killed after its job finished: its start is in the store, its finish only
    # in its journal. Another process (a writer, or another redelivery) is adopting that
    # journal at this moment; the redelivery must see the finish, not run the job again.
    pid = int(subprocess.check_output([sys.executable, "-c", "import os; print(os.getpid())"]))
    owner = f"{socket.gethostname()}/{pid}/1"  # that process has exited
    started = AttemptStarted(RUN, AttemptKey(0, 0), "w1", T0, owner=owner)
    finished = AttemptFinished(RUN, AttemptKey(0, 0), Outcome.SUCCESS, T0, result=2)
    store = FirstLookStore(free_sqlite_url)
    store.apply([started])
    folder = tmp_path / "outbox"
    folder.mkdir()
    orphan = Journal(folder / f"{pid}-0rphan00.journal")  # holding its lock: the other adopter
    orphan.append(started)
    orphan.append(finished)

    def other_adopter_commits() -> None:
        store.looked.wait(30)
        threading.Event().wait(0.5)  # its commit lands after the delivery's first look
        store.apply([started, finished])
        orphan.delete_through(2)
        orphan.close()

    threading.Thread(target=other_adopter_commits, daemon=True).start()
    assert_a_second_worker_does_not_run_it_again(store, folder)


def test_a_redelivery_of_a_run_a_killed_process_finished_unwritten_is_not_run_again(
    free_sqlite_url: str, tmp_path: Path
) -> None:
    # The worker was killed after its job finished and before its writer committed: the run
    # is still PENDING in the store, its start and finish only in the dead process's journal.
    store = RunStore(make_engine(free_sqlite_url))
    with store.engine.begin() as conn:
        store.insert_pending(conn, [RUN], T0)
    pid = int(subprocess.check_output([sys.executable, "-c", "import os; print(os.getpid())"]))
    owner = f"{socket.gethostname()}/{pid}/1"
    folder = tmp_path / "outbox"
    folder.mkdir()
    orphan = Journal(folder / f"{pid}-0rphan00.journal")
    orphan.append(AttemptStarted(RUN, AttemptKey(0, 0), "w1", T0, owner=owner))
    orphan.append(AttemptFinished(RUN, AttemptKey(0, 0), Outcome.SUCCESS, T0, result=2))
    orphan.close(remove_if_empty=False)  # its process is gone: its lock with it

    assert_a_second_worker_does_not_run_it_again(store, folder)
