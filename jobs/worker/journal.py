"""A worker process's local journal of run events not yet in the store.

One SQLite file per process, held with an exclusive ``flock`` while the process lives:
a file whose lock can be taken belongs to a process that is gone, and whoever takes it
drains it. SQLite in WAL mode with ``synchronous=NORMAL`` survives a kill -9 of the
process (not a power cut), and an append costs well under a millisecond.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import uuid
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

from jobs.store.attempts import (
    AttemptFinished,
    AttemptKey,
    AttemptStarted,
    NewRun,
    Outcome,
    RunExpired,
    WorkerEvent,
)

SUFFIX = ".journal"


def encode(event: WorkerEvent) -> str:
    data = asdict(event)
    data["type"] = type(event).__name__
    return json.dumps(data, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return repr(value)


def _run(data: dict[str, Any]) -> NewRun:
    when = data.get("scheduled_for")
    return NewRun(**{**data, "scheduled_for": datetime.fromisoformat(when) if when else None})


def decode(text: str) -> WorkerEvent:
    data = json.loads(text)
    kind = data.pop("type")
    data["at"] = datetime.fromisoformat(data["at"])
    data["run"] = _run(data["run"])
    if kind == "RunExpired":
        return RunExpired(**data)
    data["key"] = AttemptKey(**data["key"])
    if kind == "AttemptStarted":
        return AttemptStarted(**data)
    data["outcome"] = Outcome(data["outcome"])
    return AttemptFinished(**data)


class Journal:
    """Append, read in order, delete: thread-safe within one process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._lockfile = open(f"{path}.lock", "a+b")  # noqa: SIM115  (held for our lifetime)
        fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)"
        )

    @classmethod
    def create(cls, directory: Path) -> Journal:
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}")

    @classmethod
    def adopt(cls, path: Path) -> Journal | None:
        """Open the journal of a process that is gone; None while its owner still holds it."""
        try:
            return cls(path)
        except BlockingIOError:
            return None

    def append(self, event: WorkerEvent) -> None:
        with self._lock:
            self._db.execute("INSERT INTO events (body) VALUES (?)", (encode(event),))

    def read(self, limit: int) -> list[tuple[int, str]]:
        with self._lock:
            cursor = self._db.execute("SELECT seq, body FROM events ORDER BY seq LIMIT ?", (limit,))
            return list(cursor.fetchall())

    def delete_through(self, seq: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM events WHERE seq <= ?", (seq,))

    def pending(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM events").fetchone()[0])

    def close(self, remove_if_empty: bool = True) -> None:
        with self._lock:
            empty = self._db.execute("SELECT count(*) FROM events").fetchone()[0] == 0
            self._db.close()
            if remove_if_empty and empty:
                for extra in ("", "-wal", "-shm"):
                    Path(f"{self.path}{extra}").unlink(missing_ok=True)
                Path(f"{self.path}.lock").unlink(missing_ok=True)
            self._lockfile.close()
