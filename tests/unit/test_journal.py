"""The worker's journal: what a killed process appended is adopted and written by a live one,
and a journal committed in full leaves nothing to replay (real files, real SQLite store)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

from jobs.store import RunStore, make_engine
from jobs.store.attempts import AttemptFinished, AttemptKey, AttemptStarted, Outcome
from jobs.store.runs import NewRun
from jobs.worker.journal import Journal
from jobs.worker.outbox import Outbox

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_the_journal_of_a_process_killed_mid_batch_is_adopted_and_written(
    free_sqlite_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "outbox"
    script = textwrap.dedent(f"""
        import os, signal
        from datetime import UTC, datetime
        from pathlib import Path
        from jobs.store.attempts import AttemptFinished, AttemptKey, AttemptStarted, Outcome
        from jobs.store.runs import NewRun
        from jobs.worker.journal import Journal
        journal = Journal.create(Path({str(folder)!r}))
        at = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
        for n in range(3):
            run = NewRun(f"killed-{{n}}", "add", "bk.default", {{"x": n}})
            journal.append(AttemptStarted(run, AttemptKey(0, 0), "w1", at, owner="h/1/1"))
            journal.append(AttemptFinished(run, AttemptKey(0, 0), Outcome.SUCCESS, at, result=n))
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    died = subprocess.run([sys.executable, "-c", script], check=False, timeout=60)
    assert died.returncode == -9
    store = RunStore(make_engine(free_sqlite_url))

    outbox = Outbox(store, folder)
    try:
        outbox._adopt_orphans()
    finally:
        outbox.stop()

    records = [store.get(f"killed-{n}") for n in range(3)]
    assert [(r.state, r.result) for r in records if r is not None] == [
        ("SUCCESS", 0),
        ("SUCCESS", 1),
        ("SUCCESS", 2),
    ]
    assert list(folder.glob("*.journal")) == []  # drained and removed


def test_a_journal_held_by_a_live_process_is_not_adopted_and_a_drained_one_is_empty(
    tmp_path: Path,
) -> None:
    journal = Journal.create(tmp_path)
    run = NewRun("r", "add", "bk.default", {})
    journal.append(AttemptStarted(run, AttemptKey(0, 0), "w1", T0))
    journal.append(AttemptFinished(run, AttemptKey(0, 0), Outcome.SUCCESS, T0))
    assert Journal.adopt(journal.path) is None

    entries = journal.read(10)
    assert len(entries) == 2
    last, event = entries[-1]
    journal.delete_through(last)

    assert isinstance(event, AttemptFinished) and event.outcome is Outcome.SUCCESS
    assert (journal.pending(), journal.path.stat().st_size) == (0, 0)
    journal.close()
    assert not journal.path.exists()
