"""Does the live feed keep up? Runs finish at a steady rate; an SSE client counts what reaches it.

A writer plays the workers: every 50 ms it records a batch of runs as started and
finished (one transaction, with the finish time taken just before the commit, as a worker
does). The web application runs as its own uvicorn process on the same SQLite
file; a client reads /api/events and, for each finished attempt, notes the delay from the
recorded finish time to the moment the event arrived (one clock: same machine).

    python -m benchmarks.live --rate 1000 --seconds 20
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime

import httpx
from sqlalchemy import Engine

from benchmarks.harness import Process, cpu_model, free_port, workspace
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


def reader(url: str, latencies: list[float], ready: threading.Event, stop: threading.Event) -> None:
    with httpx.stream("GET", url, timeout=None) as response:
        event = ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
                if event == "hello":
                    ready.set()
            elif line.startswith("data:") and event == "changes":
                arrived = time.time()
                for change in json.loads(line[5:]):
                    if change["kind"] == "finished":
                        at = datetime.fromisoformat(change["at"]).timestamp()
                        latencies.append(arrived - at)
            if stop.is_set():
                return


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000, help="finished runs per second")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with workspace(args.keep, "bk-live-") as tmp:
        database_url = f"sqlite:///{tmp / 'live.db'}"
        upgrade(database_url)
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "BEATKEEPER_DATABASE_URL": database_url,
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
            latencies: list[float] = []
            ready, stop = threading.Event(), threading.Event()
            client = threading.Thread(
                target=reader, args=(f"{base}/api/events", latencies, ready, stop), daemon=True
            )
            client.start()
            if not ready.wait(30):
                print("no SSE stream", web.tail())
                return 1
            sent = [0]
            began = time.monotonic()
            writer(make_engine(database_url), args.rate, args.seconds, sent)
            took = time.monotonic() - began
            deadline = time.monotonic() + 10
            while len(latencies) < sent[0] and time.monotonic() < deadline:
                time.sleep(0.05)
            stop.set()
        finally:
            web.stop()
    got = len(latencies)
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores")
    print(f"written: {sent[0]} finished runs in {took:.1f} s ({sent[0] / took:.0f}/s)")
    print(f"received: {got} finished events ({got / max(1, sent[0]) * 100:.1f} %)")
    if latencies:
        print(
            "finish -> event received: "
            f"p50 {pct(latencies, 50):.0f} ms, p95 {pct(latencies, 95):.0f} ms, "
            f"p99 {pct(latencies, 99):.0f} ms, max {max(latencies) * 1000:.0f} ms, "
            f"mean {statistics.fmean(latencies) * 1000:.0f} ms"
        )
    return 0 if got == sent[0] else 1


if __name__ == "__main__":
    raise SystemExit(main())
