"""A worker process's local journal of run events not yet in the store.

One append-only file of JSON lines per process, held with an exclusive ``flock`` while the
process lives: a file whose lock can be taken belongs to a process that is gone, and
whoever takes it reads and drains it. An append is one ``write()`` (in the page cache at
once, so it survives a kill -9 of the process, not a power cut) and costs a few
microseconds; the writer takes the events from memory, never reading the file back. When
everything appended has been committed the file is truncated (rewritten with what is left
when it grows large under a steady load). Replaying an event twice is harmless, so a crash
between a commit and the truncation only costs a replay.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import os
import threading
import time
import uuid
from collections import deque
from datetime import datetime
from itertools import islice
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

log = logging.getLogger(__name__)

SUFFIX = ".journal"
# A journal never empty between commits is rewritten with its pending events past this size.
REWRITE_AT = 8 * 1024 * 1024
# How often an adoption that waits for another adopter looks at the lock again.
ADOPT_POLL = 0.05


def encode(event: WorkerEvent) -> str:
    # Shallow: dataclasses.asdict deep-copies every value, which cost more than the write.
    data = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    data["type"] = type(event).__name__
    return json.dumps(data, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
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
    """Append, take in order, drop what was committed: thread-safe within one process."""

    def __init__(
        self, path: Path, events: list[WorkerEvent] | None = None, lockfile: Any = None
    ) -> None:
        self.path = path
        self._lock = threading.Lock()
        if lockfile is None:
            lockfile = open(f"{path}.lock", "a+b")  # noqa: SIM115  (held for our lifetime)
            fcntl.flock(lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._lockfile = lockfile
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._pending: deque[tuple[int, WorkerEvent]] = deque(enumerate(events or (), 1))
        self._seq = len(self._pending)
        self._size = os.fstat(self._fd).st_size

    @classmethod
    def create(cls, directory: Path) -> Journal:
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory / f"{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}")

    @classmethod
    def adopt(cls, path: Path, wait: float = 0.0) -> Journal | None:
        """Open the journal of a process that is gone; None while someone holds it (its owner,
        or another process adopting it) for longer than ``wait`` seconds."""
        lock = open(f"{path}.lock", "a+b")  # noqa: SIM115  (closed below, or by the journal)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    lock.close()
                    return None
                time.sleep(ADOPT_POLL)
        return cls(path, _read(path), lockfile=lock)

    @staticmethod
    def pid_of(path: Path) -> int | None:
        """The process a journal file was created by (its name starts with the pid)."""
        head = path.name.split("-", 1)[0]
        return int(head) if head.isdigit() else None

    def append(self, event: WorkerEvent) -> None:
        line = (encode(event) + "\n").encode()
        with self._lock:
            os.write(self._fd, line)
            self._size += len(line)
            self._seq += 1
            self._pending.append((self._seq, event))

    def read(self, limit: int) -> list[tuple[int, WorkerEvent]]:
        with self._lock:
            return list(islice(self._pending, limit))

    def delete_through(self, seq: int) -> None:
        with self._lock:
            while self._pending and self._pending[0][0] <= seq:
                self._pending.popleft()
            if not self._pending:
                os.ftruncate(self._fd, 0)
                self._size = 0
            elif self._size > REWRITE_AT:
                self._rewrite()

    def _rewrite(self) -> None:
        """Replace the file by one holding only the pending events (atomic rename)."""
        data = "".join(encode(event) + "\n" for _, event in self._pending).encode()
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, self.path)
        os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self._size = len(data)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def close(self, remove_if_empty: bool = True) -> None:
        with self._lock:
            os.close(self._fd)
            if remove_if_empty and not self._pending:
                self.path.unlink(missing_ok=True)
                Path(f"{self.path}.lock").unlink(missing_ok=True)
            self._lockfile.close()


def _read(path: Path) -> list[WorkerEvent]:
    events: list[WorkerEvent] = []
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return events
    for number, line in enumerate(lines, 1):
        try:
            events.append(decode(line))
        except (ValueError, KeyError, TypeError):
            log.warning("journal %s line %d unreadable, skipped: %.200s", path, number, line)
    return events
