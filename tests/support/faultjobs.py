"""Jobs for fault tests in worker processes: they leave marks in files, so a test can count
executions across processes, restarts and kills (an in-memory counter dies with its worker)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from jobs.registry import JobRegistry

registry = JobRegistry()


class Flaky(RuntimeError):
    pass


def mark(folder: str, what: str) -> int:
    """Append one line to ``folder/what``; return how many lines it now has."""
    path = Path(folder) / what
    # One small O_APPEND write is atomic: concurrent workers never interleave lines.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
    finally:
        os.close(fd)
    return count(folder, what)


def count(folder: str, what: str) -> int:
    path = Path(folder) / what
    return len(path.read_text().splitlines()) if path.exists() else 0


@registry.job(time_limit=60)
def marked_sleep(marks: str, key: str, seconds: float = 0.0) -> str:
    """Marks ``key.start``, sleeps, marks ``key.done``."""
    mark(marks, f"{key}.start")
    time.sleep(seconds)
    mark(marks, f"{key}.done")
    return key


@registry.job(max_retries=3, backoff_base=1, backoff_cap=2, jitter=False)
def marked_flaky(marks: str, key: str, fail_times: int) -> int:
    """Fails its first ``fail_times`` attempts (counted in ``key.attempt``), then succeeds."""
    attempt = mark(marks, f"{key}.attempt")
    if attempt <= fail_times:
        raise Flaky(f"attempt {attempt} of {key} fails on purpose")
    mark(marks, f"{key}.done")
    return attempt


@registry.job(max_retries=0)
def kills_its_worker(marks: str, key: str) -> None:
    """Marks ``key.start``, then SIGKILLs the process running it (a segfault, an OOM kill)."""
    import signal

    mark(marks, f"{key}.start")
    os.kill(os.getpid(), signal.SIGKILL)


@registry.job(time_limit=60)
def marked_until_released(marks: str, key: str, timeout: float = 50.0) -> str:
    """Marks ``key.start``, runs until the file ``key.release`` exists, marks ``key.done``."""
    mark(marks, f"{key}.start")
    deadline = time.monotonic() + timeout
    while not (Path(marks) / f"{key}.release").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    mark(marks, f"{key}.done")
    return key
