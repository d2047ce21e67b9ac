"""The many-host topology of ``deploy/compose.cluster.yaml`` as local processes on this machine.

    python -m benchmarks.local_cluster            # start, print the addresses, Ctrl-C stops
    python -m benchmarks.local_cluster --check    # start, enqueue one job end to end, stop
    deploy/local-cluster.sh                       # the same, from a shell

A 3-node RabbitMQ cluster on its own ports (private nodes of the installed RabbitMQ, joined
with ``join_cluster``: FIELD-NOTES), set up by the same ``deploy/rabbitmq/init.sh`` as the
compose profile (Beatkeeper's user on its own vhost, no guest), reached through a TCP
balancer (HAProxy's role); a fresh PostgreSQL database; 2 workers, 2 beats (leader and
standby) and 2 web processes, all with ``BEATKEEPER_ENV=production`` and queues replicated
on the three nodes (``BEATKEEPER_QUORUM_GROUP_SIZE=3``). Everything listens on 127.0.0.1;
stopping kills every process and node it started and drops the database.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psycopg

from benchmarks.chaos_proxy import Proxy
from benchmarks.chaos_stack import Proc
from jobs.store.migrate import upgrade
from tests.support.celery_local.rabbitmq_node import RabbitMQNode, _script, free_port

ROOT = Path(__file__).resolve().parents[1]
INIT_SCRIPT = ROOT / "deploy" / "rabbitmq" / "init.sh"
POSTGRES = os.environ.get("BEATKEEPER_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
VHOST = "beatkeeper"
USER = "beatkeeper"


def _count(path: Path, text: str) -> int:
    return path.read_text(errors="replace").count(text) if path.exists() else 0


class LocalCluster:
    """``start()`` brings everything up (in dependency order), ``stop()`` takes it all down.

    ``app`` is the Celery app the workers run (``-A``); ``extra_env`` reaches every process
    (the throughput benchmark adds its job module).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        workers: int = 2,
        beats: int = 2,
        web_processes: int = 2,
        worker_concurrency: int = 2,
        app: str = "jobs",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.counts = {"workers": workers, "beats": beats, "web": web_processes}
        self.worker_concurrency = worker_concurrency
        self.app = app
        self.extra_env = extra_env or {}
        self.prefix = f"bk-cluster-{uuid.uuid4().hex[:6]}"
        self.password = secrets.token_urlsafe(18)
        self.database = f"bk_cluster_{uuid.uuid4().hex[:8]}"
        self.web_port = 0  # picked when web starts: a port chosen a minute early can be taken
        self.nodes: list[RabbitMQNode] = []
        self.balancer: Proxy | None = None
        self.workers: list[Proc] = []
        self.beats: list[Proc] = []
        self.web: Proc | None = None
        self._database_created = False

    # -- addresses ----------------------------------------------------------------------
    @property
    def broker_url(self) -> str:
        assert self.balancer is not None
        return f"amqp://{USER}:{self.password}@127.0.0.1:{self.balancer.port}/{VHOST}"

    @property
    def database_url(self) -> str:
        return f"{POSTGRES}/{self.database}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/api"

    def env(self) -> dict[str, str]:
        """What every Beatkeeper process of the cluster gets (as a host would from compose)."""
        python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        return {
            **os.environ,
            "PYTHONPATH": python_path,
            "PYTHONUNBUFFERED": "1",
            "BEATKEEPER_ENV": "production",
            "BEATKEEPER_SECRET_KEY": secrets.token_urlsafe(32),
            "BEATKEEPER_BROKER_URL": self.broker_url,
            # No management plugin on these nodes: queue depths in the UI stay unknown.
            "BEATKEEPER_RABBITMQ_MANAGEMENT_URL": f"http://{USER}:{self.password}@127.0.0.1:1",
            "BEATKEEPER_QUEUE_PREFIX": self.prefix,
            "BEATKEEPER_QUORUM_GROUP_SIZE": str(len(self.nodes)),
            "BEATKEEPER_WORKER_CONCURRENCY": str(self.worker_concurrency),
            "BEATKEEPER_OUTBOX_DIR": str(self.workdir / "outbox"),
            "BEATKEEPER_HEALTH_REQUIRE_BEAT": "true",
            # One load generator: a per-client rate limit would measure the limit.
            "BEATKEEPER_RATE_LIMIT_ENQUEUE": "off",
            "BEATKEEPER_RATE_LIMIT_SCHEDULES": "off",
            "DATABASE_URL": self.database_url,
            **self.extra_env,
        }

    # -- start ----------------------------------------------------------------------------
    def start_broker(self) -> None:
        # Each node makes its own folder, owned by the user the node runs as. The three start
        # in parallel (each is an Erlang VM booting: seconds), then two join the first.
        self.nodes = [RabbitMQNode("bkcluster") for _ in range(3)]
        with ThreadPoolExecutor(3) as pool:
            list(pool.map(RabbitMQNode.start, self.nodes))
        seed = self.nodes[0]
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda node: node.join(seed), self.nodes[1:]))
        done = subprocess.run(
            ["sh", str(INIT_SCRIPT)],
            env={
                **seed.env(),
                "RABBITMQCTL": _script("rabbitmqctl"),
                "RABBITMQ_SEED_NODE": seed.name,
                "RABBITMQ_PEER_NODES": " ".join(n.name for n in self.nodes[1:]),
                "RABBITMQ_USER": USER,
                "RABBITMQ_PASSWORD": self.password,
                "RABBITMQ_VHOST": VHOST,
            },
            capture_output=True,
            text=True,
            timeout=240,
        )
        if done.returncode != 0:
            raise RuntimeError(f"deploy/rabbitmq/init.sh failed:\n{done.stdout}{done.stderr}")
        self.balancer = Proxy([n.port for n in self.nodes]).start()

    def start_database(self) -> None:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        self._database_created = True
        upgrade(self.database_url)

    def _python(self, name: str, *args: str) -> Proc:
        return Proc(name, [sys.executable, *args], self.env(), self.workdir)

    def worker_argv(self, n: int) -> list[str]:
        """Worker ``n``'s command line (node name ``<prefix>@<host>-<n>``)."""
        return [sys.executable, "-m", "celery", "-A", self.app, "worker", "-n",
                f"{self.prefix}@%h-{n}", "--loglevel", "INFO"]  # fmt: skip

    def start_workers(self) -> list[Proc]:
        """Start the workers and wait until each is ready (also used between benchmark cells)."""
        self.workers = [
            Proc(f"worker{n}", self.worker_argv(n), self.env(), self.workdir)
            for n in range(1, self.counts["workers"] + 1)
        ]
        # A log is appended to across restarts: wait for a "ready." beyond the earlier ones.
        seen = {p.name: _count(p.log_path, "ready.") for p in self.workers}
        for proc in self.workers:
            proc.start()
        deadline = time.monotonic() + 120
        for proc in self.workers:
            while _count(proc.log_path, "ready.") <= seen[proc.name]:
                if proc.popen is not None and proc.popen.poll() is not None:
                    raise RuntimeError(f"{proc.name} exited; see {proc.log_path}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{proc.name} not ready within 120 s; see {proc.log_path}")
                time.sleep(0.2)
        return self.workers

    def stop_workers(self) -> None:
        for proc in self.workers:
            proc.stop()
        self.workers = []

    def start(self, *, workers: bool = True) -> None:
        (self.workdir / "outbox").mkdir(parents=True, exist_ok=True)
        self.start_broker()
        self.start_database()
        subprocess.run(
            [sys.executable, "-m", "broker", "declare"],
            env=self.env(), check=True, cwd=ROOT, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        self.web_port = free_port()
        self.web = self._python(
            "web", "-m", "uvicorn", "--factory", "webapp.asgi:create_app", "--host", "127.0.0.1",
            "--port", str(self.web_port), "--workers", str(self.counts["web"]),
            "--log-level", "warning", "--no-access-log",
        ).start()  # fmt: skip
        self.beats = [
            self._python(f"beat{n}", "-m", "celery", "-A", "jobs", "beat", "--loglevel", "INFO",
                         "--schedule", str(self.workdir / f"beat{n}-schedule")).start()
            for n in range(1, self.counts["beats"] + 1)
        ]  # fmt: skip
        if workers:
            self.start_workers()
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 90) -> None:
        """Until ``/api/health`` is 200: a publish, a store write and a leading beat."""
        deadline, last = time.monotonic() + timeout, "no answer"
        while time.monotonic() < deadline:
            for proc in [*self.workers, *self.beats, *filter(None, [self.web])]:
                if proc.popen is not None and proc.popen.poll() is not None:
                    log = proc.log_path.read_text(errors="replace").splitlines()[-15:]
                    raise RuntimeError(f"{proc.name} exited:\n" + "\n".join(log))
            try:
                response = httpx.get(f"{self.api}/health", timeout=5)
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text[:300]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.5)
        raise RuntimeError(f"the cluster is not healthy after {timeout:.0f} s: {last}")

    # -- inspect --------------------------------------------------------------------------
    def queue_members(self) -> dict[str, int]:
        """Replicas of each of this deployment's quorum queues, as RabbitMQ reports them
        (Celery's event and reply queues are transient classic queues: left out)."""
        out = self.nodes[0].ctl(
            "list_queues", "-p", VHOST, "name", "type", "members", "--formatter", "json",
            "--quiet",
        )  # fmt: skip
        return {
            r["name"]: len(r["members"])
            for r in json.loads(out)
            if r["name"].startswith(self.prefix) and r["type"] == "quorum"
        }

    def running(self) -> dict[str, int]:
        procs = [*self.workers, *self.beats, *filter(None, [self.web])]
        alive = [p for p in procs if p.popen is not None and p.popen.poll() is None]
        return {
            "rabbitmq nodes": sum(1 for n in self.nodes if n.running()),
            "processes": len(alive),
        }

    # -- stop -----------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop every process, node and balancer started, and drop the database."""
        for proc in [*self.beats, *self.workers, *filter(None, [self.web])]:
            with contextlib.suppress(Exception):
                proc.stop()
        if self.balancer is not None:
            self.balancer.close()
        for node in self.nodes:
            node.destroy()
        if self._database_created:
            with (
                contextlib.suppress(psycopg.Error),
                psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn,
            ):
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def __enter__(self) -> LocalCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def check(cluster: LocalCluster) -> None:
    """One job through the load-balanced web app to a worker and back into the store."""
    response = httpx.post(f"{cluster.api}/jobs/runs_report/runs", json={"kwargs": {}}, timeout=10)
    response.raise_for_status()
    run_id = response.json()["id"]
    deadline = time.monotonic() + 60
    state = "?"
    while time.monotonic() < deadline:
        state = httpx.get(f"{cluster.api}/runs/{run_id}", timeout=5).json()["state"]
        if state == "SUCCESS":
            break
        time.sleep(0.3)
    members = cluster.queue_members()
    print(f"run {run_id}: {state}; {len(members)} quorum queues, replicas: {set(members.values())}")
    if state != "SUCCESS" or set(members.values()) != {len(cluster.nodes)}:
        raise RuntimeError(f"check failed: run {state}, replicas {members}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="one job end to end, then stop")
    parser.add_argument("--keep", action="store_true", help="keep the logs folder")
    args = parser.parse_args(argv)
    # SIGTERM stops the cluster like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    workdir = Path(tempfile.mkdtemp(prefix="bk-local-cluster-"))
    started = time.monotonic()
    try:
        with LocalCluster(workdir) as cluster:
            print(f"up in {time.monotonic() - started:.0f} s; logs in {workdir}")
            print(f"  web (2 processes)   {cluster.api.removesuffix('/api')}/")
            print(f"  AMQP (balanced)     {cluster.broker_url.split('@')[1]}")
            print(f"  RabbitMQ nodes      {', '.join(n.name for n in cluster.nodes)}")
            print(f"  database            {cluster.database_url}")
            if args.check:
                check(cluster)
                return 0
            print("Ctrl-C stops everything.")
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        print("stopped: every process and node, database dropped")
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
