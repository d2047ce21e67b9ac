"""The chaos benchmark's count: a run that finishes while the count reads its sources is
counted completed, never lost (the store and the jobs' log read in a safe order)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.chaos_count import JobLog, Row, observe, tally


class FinishingJob:
    """A job that finishes between the first and the second read of the count: it writes
    its ``done`` line, then its finish reaches the store (the order a worker follows)."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.reads = 0
        log.write_text("start r1 k1 1 100.000\n")

    def _read(self) -> None:
        self.reads += 1
        if self.reads == 2:  # finished between the two reads
            with self.log.open("a") as f:
                f.write("done r1 k1 1 101.000\n")

    def states(self) -> dict[str, str]:
        self._read()
        return {"r1": "STARTED" if self.reads == 1 else "SUCCESS"}

    def job_log(self) -> JobLog:
        self._read()
        return JobLog.read(self.log)


def test_a_run_finishing_while_it_is_counted_is_completed_not_lost(tmp_path: Path) -> None:
    job = FinishingJob(tmp_path / "jobs.log")

    log, states = observe(job.states, job.job_log)
    row = tally(Row("worker kill -9"), {"r1": 99.0}, log, {}, states)

    assert (row.completed, row.lost, row.stuck) == (1, 0, 0)
