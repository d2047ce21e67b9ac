"""The job the chaos benchmark runs: it writes its own log, independent of the run store.

Each execution appends ``start <run id> <key>`` and ``done <run id> <key>`` lines to the file
named by ``BEATKEEPER_CHAOS_LOG`` (one short ``O_APPEND`` write each, so concurrent worker
processes never interleave a line). Completions and double runs are counted from this log.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from celery import current_task

from jobs.registry import JobRegistry

registry = JobRegistry()


class Transient(RuntimeError):
    """The first attempt of a ``fail_once`` job fails with this, on purpose."""


def _log(event: str, key: str) -> str:
    run_id = str(current_task.request.id) if current_task else "-"
    line = f"{event} {run_id} {key} {os.getpid()} {time.time():.3f}\n"
    fd = os.open(os.environ["BEATKEEPER_CHAOS_LOG"], os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
    return run_id


@registry.job(max_retries=5, backoff_base=1, backoff_cap=4, jitter=False, time_limit=60)
def chaos_work(key: str, seconds: float = 0.2, fail_once: bool = False) -> str:
    """Sleeps ``seconds``; with ``fail_once`` its first attempt raises (a retry, by policy)."""
    run_id = _log("start", key)
    if fail_once:
        # A flag file per run: the first attempt of the run fails, whichever process runs it.
        flag = Path(os.environ["BEATKEEPER_CHAOS_LOG"]).parent / "failed" / run_id
        flag.parent.mkdir(exist_ok=True)
        try:
            flag.touch(exist_ok=False)
        except FileExistsError:
            pass
        else:
            raise Transient(f"first attempt of {key} fails on purpose")
    time.sleep(seconds)
    _log("done", key)
    return key
