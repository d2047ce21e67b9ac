"""Reproducer: countdown retries (Celery's native delayed delivery) on a local 3-node RabbitMQ
cluster while its nodes are killed with kill -9, one at a time.

    .venv/bin/python -m benchmarks.cluster_retries [--order 1,2,0] [--keep]

Three private nodes are joined into a cluster (quorum queues with a member on each node),
two real ``celery -A jobs worker`` processes reach it through a TCP proxy (HAProxy's role),
and jobs that fail their first attempt and retry after 1 s are enqueued through the real
enqueue path before, during and after each node kill. It prints how many finished, how many
are stranded (run in RETRY, no second attempt), run twice, re-sent by the reaper (whose
safety net needs ``BEATKEEPER_RETRY_OVERDUE_SECONDS`` and ``BEATKEEPER_REAP_INTERVAL`` short
enough for the 90 s wait, e.g. 10 and 5), and which queues still hold messages.

On RabbitMQ 3.10.8 (Debian), order 1,2,0 (the seed node, leader of every queue, killed
last) stranded 26-29 of 120 retries in ``celery_delayed_0`` in four runs out of four:
counted in ``messages`` but neither ready nor unacked, i.e. waiting in the quorum queue's
at-least-once dead-letter state, and still there 20 s later; killing only node 0 stranded
none. Nothing is left behind: nodes, proxy and workers are removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from kombu import Connection

from benchmarks.chaos_proxy import Proxy
from benchmarks.harness import ROOT, workspace
from broker import declare
from jobs.enqueue import Enqueuer
from jobs.factory import create_celery_app, load_registry
from jobs.settings import JobsSettings
from jobs.store.migrate import upgrade
from tests.support.celery_local.rabbitmq_node import RabbitMQNode
from tests.support.faultjobs import count

JOBS = "jobs.examples,tests.support.faultjobs"


class Run:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.marks = tmp / "marks"
        self.marks.mkdir()
        self.began = time.monotonic()
        self.nodes = [RabbitMQNode("bkclretry") for _ in range(3)]
        self.proxy: Proxy | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self.keys: list[str] = []

    def log(self, *parts: object) -> None:
        print(f"[{time.monotonic() - self.began:6.1f}s]", *parts, flush=True)

    def env(self, url: str) -> dict[str, str]:
        return {
            **os.environ,
            "BEATKEEPER_ENV": "test",
            "BEATKEEPER_BROKER_URL": url,
            "BEATKEEPER_QUEUE_PREFIX": "bkclretry",
            "DATABASE_URL": f"sqlite:///{self.tmp}/runs.db",
            "BEATKEEPER_JOB_MODULES": JOBS,
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "BEATKEEPER_PUBLISH_MAX_RETRIES": "3",
        }

    def start(self) -> dict[str, str]:
        for node in self.nodes:
            node.start()
        for node in self.nodes[1:]:
            node.join(self.nodes[0])
        self.proxy = Proxy([n.port for n in self.nodes]).start()
        env = self.env(f"amqp://guest:guest@127.0.0.1:{self.proxy.port}//")
        upgrade(env["DATABASE_URL"])
        for i in range(2):
            log = (self.tmp / f"worker{i}.log").open("wb")
            argv = [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "jobs",
                "worker",
                "-n",
                f"w{i}@%h",
                "-l",
                "INFO",
            ]
            self.workers.append(
                subprocess.Popen(
                    argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )  # fmt: skip
        deadline = time.monotonic() + 180
        while sum("ready." in (self.tmp / f"worker{i}.log").read_text() for i in range(2)) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the workers were not ready within 180 s (logs in {self.tmp})")
            time.sleep(0.2)
        self.log("cluster of 3 and two workers ready")
        return env

    def enqueue(self, enqueuer: Enqueuer, tag: str, n: int) -> None:
        for j in range(n):
            key = f"{tag}{j}"
            kwargs = {"marks": str(self.marks), "key": key, "fail_times": 1}
            try:
                enqueuer.enqueue("marked_flaky", kwargs)
                self.keys.append(key)
            except Exception as exc:  # noqa: BLE001 - a refused enqueue is a 503, not a loss
                self.log("enqueue refused", key, exc)
            time.sleep(0.1)

    def twice(self) -> list[str]:
        return [k for k in self.keys if count(str(self.marks), f"{k}.done") > 1]

    def missing(self) -> list[str]:
        return [k for k in self.keys if count(str(self.marks), f"{k}.done") == 0]

    def queues_with_messages(self) -> list[dict[str, object]]:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                out = node.ctl(
                    "list_queues", "name", "messages", "messages_ready",
                    "messages_unacknowledged", "leader", "--formatter", "json",
                )  # fmt: skip
                return [q for q in json.loads(out) if q.get("messages")]
        return []

    def close(self, keep: bool) -> None:
        for worker in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        if self.proxy is not None:
            self.proxy.cut()
        for i, node in enumerate(self.nodes):
            if keep:
                shutil.copytree(node.log_dir, self.tmp / f"node{i}-log", dirs_exist_ok=True)
            node.destroy()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--order", default="1,2,0", help="nodes to kill, in order (0 = seed)")
    parser.add_argument("--keep", action="store_true", help="keep logs (nodes' too)")
    args = parser.parse_args(argv)
    with workspace(args.keep, prefix="bk-clretry-") as tmp:
        run = Run(tmp)
        try:
            env = run.start()
            app = create_celery_app(JobsSettings.from_env(env), load_registry(JOBS))
            with Connection(env["BEATKEEPER_BROKER_URL"]) as conn:
                declare.declare(conn, app.topology)
            enqueuer = Enqueuer(app)
            run.enqueue(enqueuer, "pre", 15)
            for victim in (int(v) for v in args.order.split(",")):
                run.enqueue(enqueuer, f"before{victim}-", 10)
                run.nodes[victim].kill()
                run.log("killed node", victim, "with kill -9")
                run.enqueue(enqueuer, f"down{victim}-", 20)
                time.sleep(3)
                run.nodes[victim].start()
                run.log("node", victim, "back")
                run.enqueue(enqueuer, f"after{victim}-", 5)
            enqueuer.stop()
            deadline = time.monotonic() + 90
            while run.missing() and time.monotonic() < deadline:
                time.sleep(1)
            missing = run.missing()
            states: dict[str, int] = {}
            resent = 0
            for record in app.store.list(limit=10_000):
                states[record.state] = states.get(record.state, 0) + 1
                resent += record.origin == "reaper"
            print(f"\naccepted {len(run.keys)}, finished {len(run.keys) - len(missing)}, "
                  f"stranded {len(missing)}, run twice {len(run.twice())}, "
                  f"re-sent by the reaper {resent}; runs by state {states}")  # fmt: skip
            twice = set(run.twice())
            for record in app.store.list(limit=10_000):
                if record.kwargs.get("key") in twice:
                    full = app.store.get(record.id)
                    history = [(a.outcome, a.worker) for a in full.history] if full else []
                    print(f"run twice: {record.kwargs['key']} {record.id} origin {record.origin} "
                          f"attempts {record.attempts} {history}")  # fmt: skip
            print(f"queues still holding messages: {run.queues_with_messages()}")
            app.store.engine.dispose()
        finally:
            run.close(args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
