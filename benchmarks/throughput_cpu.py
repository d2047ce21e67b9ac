"""CPU spent per job, the figure a loaded machine does not blur: the worker's process tree
(main process and pool children) and the PostgreSQL backends serving the run store.

tasks/s on a shared 2-core machine moves with whatever else runs; CPU seconds per job barely
do, so ``benchmarks/throughput.py`` reports both, measured over the same drain.
"""

from __future__ import annotations

import contextlib

import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url

from jobs.store import make_engine


def tree_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` and its live children."""
    total = 0.0
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.Error:
        return total
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def backend_seconds(database_url: str) -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to the run store's database
    (the server runs on this machine); empty for SQLite, which runs inside the worker."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return {}
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            query = text("SELECT pid FROM pg_stat_activity WHERE datname = :db")
            pids = [int(p) for p in conn.execute(query, {"db": url.database}).scalars()]
            own = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    finally:
        engine.dispose()
    seconds: dict[int, float] = {}
    for pid in pids:
        if pid == own:
            continue
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            seconds[pid] = times.user + times.system
    return seconds


class CpuWindow:
    """CPU of a worker tree (and the store's backends) between ``start()`` and ``stop()``."""

    def __init__(self, pid: int, database_url: str) -> None:
        self.pid, self.database_url = pid, database_url
        self._worker = 0.0
        self._backends: dict[int, float] = {}
        self.worker_seconds = 0.0
        self.store_seconds = 0.0

    def start(self) -> None:
        self._worker = tree_seconds(self.pid)
        self._backends = backend_seconds(self.database_url)

    def stop(self) -> None:
        self.worker_seconds = tree_seconds(self.pid) - self._worker
        now = backend_seconds(self.database_url)
        self.store_seconds = sum(s - self._backends.get(pid, 0.0) for pid, s in now.items())
