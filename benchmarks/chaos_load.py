"""Load and observers for ``benchmarks/chaos.py``: a steady stream of API enqueues, a process
supervisor (restarts what died, as systemd would, and counts unexpected exits) and a watcher
of the beat's leadership lease."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
from sqlalchemy import Engine, select

from benchmarks.chaos_stack import Proc


@dataclass
class Load:
    """POSTs ``chaos_work`` at ``rate`` per second; every tenth job fails its first attempt."""

    api: str
    rate: float
    seconds: float = 0.3
    attempted: int = 0
    acked: dict[str, float] = field(default_factory=dict)  # run id -> 202 time
    refused: Counter[str] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)

    def _one(self, client: httpx.Client, n: int) -> None:
        body = {
            "kwargs": {
                "key": uuid.uuid4().hex[:12],
                "seconds": self.seconds,
                "fail_once": n % 10 == 0,
            }
        }
        try:
            response = client.post(f"{self.api}/jobs/chaos_work/runs", json=body)
        except httpx.HTTPError as exc:
            self.refused[type(exc).__name__] += 1
            return
        if response.status_code == 202:
            self.acked[response.json()["id"]] = time.time()
        else:
            self.refused[str(response.status_code)] += 1

    def run(self) -> None:
        with httpx.Client(timeout=30) as client, ThreadPoolExecutor(8) as pool:
            n = 0
            began = time.monotonic()
            while not self._stop.is_set():
                n += 1
                self.attempted += 1
                pool.submit(self._one, client, n)
                self._stop.wait(max(0.0, began + n / self.rate - time.monotonic()))

    def start(self) -> Load:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)


@dataclass
class Supervisor:
    """Restarts any process that exited without being killed on purpose."""

    procs: list[Proc]
    exits: Counter[str] = field(default_factory=Counter)
    # Held by whoever kills and restarts a process on purpose, so that is not counted here.
    lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.wait(0.5):
            with self.lock:
                for proc in self.procs:
                    if proc.popen is not None and proc.popen.poll() is not None:
                        self.exits[proc.name] += 1
                        proc.start()

    def start(self) -> Supervisor:
        threading.Thread(target=self.run, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()


@dataclass
class LeaseWatch:
    """Samples the beat lease (owner, epoch) every 50 ms, if the store has one."""

    engine: Engine
    samples: list[tuple[float, str | None, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def read(self) -> tuple[str | None, int] | None:
        try:
            from jobs.store.tables import beat_lease
        except ImportError:
            return None
        with self.engine.connect() as conn:
            row = conn.execute(select(beat_lease.c.owner, beat_lease.c.epoch)).first()
        return (row.owner, int(row.epoch)) if row else None

    def run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                found = self.read()
            except Exception:  # noqa: BLE001 - the database may be cut on purpose
                continue
            if found is not None:
                self.samples.append((time.time(), *found))

    def start(self) -> LeaseWatch:
        threading.Thread(target=self.run, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def takeover_after(self, killed_at: float, owner: str | None) -> float | None:
        """Seconds from ``killed_at`` until another owner held the lease."""
        for at, who, _ in self.samples:
            if at > killed_at and who is not None and who != owner:
                return at - killed_at
        return None


def wait(until: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if until():
            return True
        time.sleep(interval)
    return until()
