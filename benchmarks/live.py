"""Does the live feed keep up? Runs finish at a steady rate; an SSE client counts what reaches it.

A writer plays the workers: every 50 ms it records a batch of runs as started and
finished (one transaction, with the finish time taken just before the commit, as a worker
does). The web application runs as its own uvicorn process on the same SQLite
file; a client reads /api/events and, for each finished attempt, notes the delay from the
recorded finish time to the moment the event arrived (one clock: same machine).

Each rate runs twice in the same run, with the feed's former settings and with today's, so
the two are compared on the same machine load.

    python -m benchmarks.live --rates 20,1000 --seconds 10
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import Engine

from benchmarks.harness import Process, cpu_model, free_port, pid_cpu, workspace
from jobs.store import make_engine
from jobs.store.migrate import upgrade
from jobs.store.tables import run_attempts, runs

TICK = 0.05


def writer(engine: Engine, rate: int, seconds: float, sent: list[int]) -> None:
    """Rows as workers leave them (run and attempt, started and finished), written in bulk:
    the workers' own write path is measured by the other benchmarks; this one needs a
    writer fast enough to produce ``rate`` finishes a second from one Python thread."""
    per_tick = max(1, round(rate * TICK))
    start = time.monotonic()
    ticks = 0
    while time.monotonic() - start < seconds:
        ids = [uuid.uuid4().hex for _ in range(per_tick)]
        with engine.begin() as conn:
            began = datetime.now(UTC)
            finished = datetime.now(UTC)
            conn.execute(
                runs.insert(),
                [
                    {
                        "id": i, "job": "bench", "queue": "bench.default", "args": [],
                        "kwargs": {}, "state": "SUCCESS", "attempts": 1, "enqueued_at": began,
                        "started_at": began, "finished_at": finished, "dead_lettered": False,
                        "worker": "bench@host", "held": False,
                    }
                    for i in ids
                ],
            )  # fmt: skip
            conn.execute(
                run_attempts.insert(),
                [
                    {
                        "run_id": i, "number": 1, "retry": 0, "delivery": 1, "started_at": began,
                        "finished_at": finished, "outcome": "SUCCESS", "worker": "bench@host",
                    }
                    for i in ids
                ],
            )  # fmt: skip
        sent[0] += len(ids)
        ticks += 1
        time.sleep(max(0.0, start + ticks * TICK - time.monotonic()))


class Reader:
    """Reads /api/events; for each finished attempt notes finish -> event arrival, and for
    one run at a time fetches its page as the run page does after an event, noting finish ->
    page showing SUCCESS."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.events: list[float] = []
        self.pages: list[float] = []
        self.fetches: list[float] = []  # how long each page request took
        self.ready, self.stop = threading.Event(), threading.Event()
        self._fetching = threading.Lock()

    def _fetch(self, run_id: str, finished: float) -> None:
        try:
            began = time.time()
            page = httpx.get(f"{self.base}/runs/{run_id}", timeout=5)
            self.fetches.append(time.time() - began)
            if "state-SUCCESS" in page.text:
                self.pages.append(time.time() - finished)
        except httpx.HTTPError:
            pass  # the web process stopped at the end of the run
        finally:
            self._fetching.release()

    def run(self) -> None:
        with httpx.stream("GET", f"{self.base}/api/events", timeout=None) as response:
            event = ""
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line.split(":", 1)[1].strip()
                    if event == "hello":
                        self.ready.set()
                elif line.startswith("data:") and event == "changes":
                    self._batch(json.loads(line[5:]), time.time())
                if self.stop.is_set():
                    return

    def _batch(self, changes: list[dict[str, object]], arrived: float) -> None:
        last = None
        for change in changes:
            if change["kind"] == "finished":
                at = datetime.fromisoformat(str(change["at"])).timestamp()
                self.events.append(arrived - at)
                last = (str(change["run"]), at)
        if last is not None and self._fetching.acquire(blocking=False):
            threading.Thread(target=self._fetch, args=last, daemon=True).start()


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


# (label, environment): the settings before this benchmark's fix, and the defaults now.
CONFIGS: tuple[tuple[str, dict[str, str]], ...] = (
    ("former: 100 ms polls, 5 s look-back each", {
        "BEATKEEPER_LIVE_POLL_INTERVAL": "0.1", "BEATKEEPER_LIVE_LOOKBACK": "5",
    }),
    ("now: 50 ms polls, 0.25 s look-back, 5 s once a second", {}),
)  # fmt: skip


@dataclass(frozen=True)
class Result:
    sent: int
    events: list[float]
    pages: list[float]
    cpu: float  # the web process's CPU seconds, start-up included


def measure(tmp: Path, rate: int, seconds: float, extra: dict[str, str]) -> Result:
    database_url = f"sqlite:///{tmp / f'live-{uuid.uuid4().hex[:6]}.db'}"
    upgrade(database_url)
    port = free_port()
    env = {
        **os.environ,
        **extra,
        "DATABASE_URL": database_url,
        "BEATKEEPER_QUEUE_PREFIX": f"bk-live-{uuid.uuid4().hex[:6]}",
    }
    argv = [sys.executable, "-m", "uvicorn", "--factory", "webapp.asgi:create_app"]
    web = Process(
        "web", [*argv, "--port", str(port), "--log-level", "warning"], env, tmp / "web.log"
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                if httpx.get(f"{base}/api/jobs", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        reader = Reader(base)
        threading.Thread(target=reader.run, daemon=True).start()
        if not reader.ready.wait(30):
            raise RuntimeError(f"no SSE stream: {web.tail()}")
        sent = [0]
        writer(make_engine(database_url), rate, seconds, sent)
        deadline = time.monotonic() + 10
        while len(reader.events) < sent[0] and time.monotonic() < deadline:
            time.sleep(0.05)
        reader.stop.set()
        cpu = pid_cpu(web.pid)
    finally:
        web.stop()
    return Result(sent[0], reader.events, reader.pages, cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="20,1000", help="finished runs per second, a list")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    rows = []
    with workspace(args.keep, "bk-live-") as tmp:
        for rate in [int(r) for r in args.rates.split(",")]:
            for label, extra in CONFIGS:
                rows.append((label, rate, measure(tmp, rate, args.seconds, extra)))
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print("| feed | finishes/s | delivered | finish → event p50 | p95 | p99 | max | "
          "finish → page shows SUCCESS p50 | p99 | pages | web CPU s |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    complete = True
    for label, rate, m in rows:
        complete = complete and len(m.events) == m.sent
        ev = [f"{pct(m.events, p):.0f} ms" for p in (50, 95, 99, 100)] if m.events else ["-"] * 4
        pg = [f"{pct(m.pages, p):.0f} ms" for p in (50, 99)] if m.pages else ["-"] * 2
        print(f"| {label} | {rate:,} | {len(m.events):,}/{m.sent:,} | {' | '.join(ev)} | "
              f"{' | '.join(pg)} | {len(m.pages)} | {m.cpu:.1f} |")  # fmt: skip
    return 0 if complete else 1


if __name__ == "__main__":
    raise SystemExit(main())
