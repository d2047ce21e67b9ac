"""The outbox writer waits for more events only while busy: a job finishing on an idle worker
is written at once (what the live pages show), a stream of jobs in batches (real SQLite
store, real journal)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from jobs.store import RunStore, make_engine
from jobs.store.attempts import AttemptFinished, AttemptKey, Outcome, WorkerEvent
from jobs.store.runs import NewRun
from jobs.worker.outbox import Outbox
from tests.support.waiting import wait_for

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def finished(run_id: str) -> AttemptFinished:
    run = NewRun(run_id, "add", "bk.default", {"x": 1})
    return AttemptFinished(run, AttemptKey(0, 0), Outcome.SUCCESS, T0, result=2)


class ArrivingStore(RunStore):
    """A store during whose first commit another job finishes."""

    outbox: Outbox | None = None

    def apply(self, events: Sequence[WorkerEvent]) -> None:
        if self.outbox is not None:
            outbox, self.outbox = self.outbox, None
            outbox.put(finished("during-the-commit"))
        super().apply(events)


def test_an_idle_writer_does_not_linger_and_a_busy_one_does(
    free_sqlite_url: str, tmp_path: Path
) -> None:
    store = ArrivingStore(make_engine(free_sqlite_url))
    outbox = Outbox(store, tmp_path / "outbox")
    try:
        outbox.put(finished("alone"))
        assert outbox.flush(5)
        assert outbox._busy is False, "nothing arrived while it wrote: the next event goes at once"
        store.outbox = outbox
        outbox.put(finished("first"))
        assert outbox.flush(5)
        # An event arrived during the commit: the next batch gathers.
        wait_for(lambda: outbox._busy, 5)
        assert all(store.get(i) for i in ("alone", "first", "during-the-commit"))
    finally:
        outbox.stop()
