"""A run reaching SUCCESS on screen, end to end: API enqueue, a real prefork worker (its outbox
writing the run store), the web process's change feed, the SSE stream, the run's page.

Jobs are enqueued one at a time (idle, as a person watching one run would see it). For each
run it notes, against the worker's recorded finish time (same machine, one clock): when the
``finished`` event reached the SSE client, and when the run's page first showed SUCCESS
(fetched after each event, as the run page does).

    python -m benchmarks.live_e2e --runs 40
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
from kombu import Connection as AmqpConnection

from benchmarks.enqueue import consumers, delete_topology
from benchmarks.harness import Process, cpu_model, free_port, workspace
from benchmarks.live import Reader, pct
from broker import declare as broker_declare
from broker.topology import describe
from jobs.settings import JobsSettings
from jobs.store.migrate import upgrade


def start(tmp: Path, env: dict[str, str]) -> tuple[Process, Process, str]:
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", "--factory", "webapp.asgi:create_app"]
    web = Process("web", [*argv, "--port", str(port), "--log-level", "warning"], env, tmp / "w.log")
    worker = Process(
        "worker",
        [sys.executable, "-m", "celery", "-A", "jobs", "worker", "-c", "2", "-l", "WARNING"],
        env,
        tmp / "worker.log",
    )
    return web, worker, f"http://127.0.0.1:{port}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--pause", type=float, default=0.5, help="seconds between enqueues")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    with workspace(args.keep, "bk-live-e2e-") as tmp:
        database_url = f"sqlite:///{tmp / 'e2e.db'}"
        upgrade(database_url)
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "BEATKEEPER_QUEUE_PREFIX": f"bk-e2e-{uuid.uuid4().hex[:6]}",
        }
        settings = JobsSettings.from_env(env)
        topology = describe(settings.broker)
        with AmqpConnection(settings.broker.url) as conn:
            broker_declare.declare(conn, topology)
        web, worker, base = start(tmp, env)
        try:
            queue = topology.work_queue(settings.default_queue).name
            deadline = time.monotonic() + 60
            while consumers(settings.broker.url, queue) < 1 or not _up(base):
                worker.check_alive()
                if time.monotonic() > deadline:
                    raise RuntimeError(f"stack not up: {worker.tail()} {web.tail()}")
                time.sleep(0.2)
            reader = Reader(base)
            threading.Thread(target=reader.run, daemon=True).start()
            if not reader.ready.wait(30):
                raise RuntimeError(f"no SSE stream: {web.tail()}")
            for _ in range(args.runs):
                sent = httpx.post(f"{base}/api/jobs/runs_report/runs", json={"kwargs": {}})
                sent.raise_for_status()
                time.sleep(args.pause)
            deadline = time.monotonic() + 10
            while len(reader.pages) < args.runs and time.monotonic() < deadline:
                time.sleep(0.1)
            reader.stop.set()
        finally:
            worker.stop()
            web.stop()
            delete_topology(settings.broker.url, topology)
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print("| from the worker's finish to | n | p50 | p95 | p99 | max |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, values in (
        ("the SSE event", reader.events),
        ("the page showing SUCCESS", reader.pages),
        ("(the page request alone, not from the finish)", reader.fetches),
    ):
        if values:
            cells = " | ".join(f"{pct(values, p):.0f} ms" for p in (50, 95, 99, 100))
            print(f"| {label} | {len(values)} | {cells} |")
    return 0 if len(reader.pages) == args.runs else 1


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/api/jobs", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
