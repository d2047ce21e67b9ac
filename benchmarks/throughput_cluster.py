"""``python -m benchmarks.throughput --cluster``: the throughput cells against the local twin of
``deploy/compose.cluster.yaml`` (``benchmarks.local_cluster``).

The cluster runs as it would in production: 3 RabbitMQ nodes behind a TCP balancer with every
queue replicated on all three, PostgreSQL, 2 web processes and 2 beats (leader and standby)
up throughout. Its 2 workers (``-c --concurrency`` each) are stopped while a cell queues its
jobs and started again to drain them, so each cell measures the same thing as on one
machine: Beatkeeper's task class against a plain Celery task, same workers, same settings.
"""

from __future__ import annotations

import argparse
import shlex
import time

from benchmarks.chaos_stack import Proc
from benchmarks.harness import wait_quiet, workspace
from benchmarks.local_cluster import LocalCluster
from benchmarks.throughput import KINDS, Cell, Context, machine, run_cell, table

APP = "benchmarks.throughput_app"


class Workers:
    """The cluster's workers under one shell, so that ``run_cell`` sees one process tree: its
    CPU window (``pid``) covers every worker, ``check_alive`` and ``stop`` all of them."""

    def __init__(self, cluster: LocalCluster) -> None:
        count = cluster.counts["workers"]
        script = " & ".join(shlex.join(cluster.worker_argv(n)) for n in range(1, count + 1))
        self.proc = Proc(
            "workers", ["sh", "-c", f"{script} & wait"], cluster.env(), cluster.workdir
        )
        seen = _ready_lines(self.proc)
        self.proc.start()
        deadline = time.monotonic() + 120
        while _ready_lines(self.proc) < seen + count:
            self.check_alive()
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not ready within 120 s; see {self.proc.log_path}")
            time.sleep(0.2)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def check_alive(self) -> None:
        if self.proc.popen is not None and self.proc.popen.poll() is not None:
            raise RuntimeError(f"the workers exited; see {self.proc.log_path}")

    def stop(self, timeout: float = 30.0) -> None:
        self.proc.stop()


def _ready_lines(proc: Proc) -> int:
    path = proc.log_path
    return path.read_text(errors="replace").count(" ready.") if path.exists() else 0


class ClusterContext(Context):
    def __init__(self, args: argparse.Namespace, cluster: LocalCluster) -> None:
        env = cluster.env()
        super().__init__(args, cluster.workdir, "postgresql", cluster.database_url, env)
        self.cluster = cluster

    def start_worker(self, tag: str) -> Workers:  # type: ignore[override]  # duck-typed Process
        return Workers(self.cluster)


def run_cluster(args: argparse.Namespace) -> int:
    print(f"machine: {machine()}")
    print(f"background CPU before start: {wait_quiet(10):.0f}% of a core")
    cells: list[Cell] = []
    with workspace(args.keep, prefix="bk-throughput-cluster-") as tmp:
        cluster = LocalCluster(
            tmp,
            app=APP,
            worker_concurrency=args.concurrency,
            extra_env={"BEATKEEPER_JOB_MODULES": "benchmarks.throughput_jobs"},
        )
        with cluster:
            cluster.stop_workers()  # each cell starts them once its jobs are queued
            print(
                f"cluster: 3 RabbitMQ nodes ({', '.join(n.name for n in cluster.nodes)}), "
                f"PostgreSQL, 2 web processes, 2 beats, 2 workers x -c {args.concurrency}"
            )
            ctx = ClusterContext(args, cluster)
            try:
                for work in args.work.split(","):
                    for kind in KINDS:
                        cell = run_cell(ctx, work, kind)
                        cell.store = "postgresql, cluster"
                        cells.append(cell)
                        print(f"  cluster {work} {kind}: {cell.rate:,.0f} tasks/s", flush=True)
                replicas = sorted(set(cluster.queue_members().values()))
                print(f"queue replicas: {replicas}")
            finally:
                ctx.close()
    print()
    print(table(cells))
    return 0
