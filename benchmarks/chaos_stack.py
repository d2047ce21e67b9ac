"""The system under test for ``benchmarks/chaos.py``: web, two workers and two beats on a
private RabbitMQ node (or a local 3-node cluster behind a proxy), PostgreSQL behind a proxy
that can be cut. Everything listens on 127.0.0.1 and is removed at the end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import psycopg

from benchmarks.chaos_proxy import Proxy
from jobs.store.migrate import upgrade
from tests.support.celery_local.rabbitmq_node import RabbitMQNode, free_port

ROOT = Path(__file__).resolve().parents[1]
PREFIX = "bk-chaos"
POSTGRES = os.environ.get("BEATKEEPER_CHAOS_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


class Proc:
    """One supervised process: ``kill()`` signals its whole group, ``start()`` runs it again."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name, self.argv, self.env = name, argv, env
        self.log_path = logs / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Proc:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=self.log_path.parent,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int:
        return self.popen.pid if self.popen else -1

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(15)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def wait_log(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not log {text!r} within {timeout} s")


class Stack:
    def __init__(
        self, workdir: Path, cluster: bool = False, settings: dict[str, str] | None = None
    ) -> None:
        self.workdir = workdir
        self.cluster = cluster
        self.settings = settings or {}  # BEATKEEPER_* for every process of the stack
        self.nodes: list[RabbitMQNode] = []
        self.amqp_proxy: Proxy | None = None
        self.db_proxy: Proxy | None = None
        self.database = f"bk_chaos_{uuid.uuid4().hex[:8]}"
        self.log = workdir / "jobs.log"
        self.web_port = free_port()
        self.workers: list[Proc] = []
        self.beats: list[Proc] = []
        self.web: Proc | None = None

    # -- services ----------------------------------------------------------------
    def start_broker(self) -> None:
        first = RabbitMQNode("bkchaos")
        first.start()
        self.nodes.append(first)
        if self.cluster:
            for _ in range(2):
                node = RabbitMQNode("bkchaos")
                node.start()
                node.join(first)
                self.nodes.append(node)
            # Clients reach the cluster through one address, as behind HAProxy.
            self.amqp_proxy = Proxy([n.port for n in self.nodes]).start()

    @property
    def broker_url(self) -> str:
        port = self.amqp_proxy.port if self.amqp_proxy else self.nodes[0].port
        return f"amqp://guest:guest@127.0.0.1:{port}//"

    def start_database(self) -> None:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{self.database}"')
        self.db_proxy = Proxy([int(POSTGRES.rsplit(":", 1)[1])]).start()
        upgrade(self.database_url)

    @property
    def database_url(self) -> str:
        assert self.db_proxy is not None
        return f"postgresql://postgres@127.0.0.1:{self.db_proxy.port}/{self.database}"

    def env(self) -> dict[str, str]:
        python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        return {
            **os.environ,
            "PYTHONPATH": python_path,
            "PYTHONUNBUFFERED": "1",
            "BEATKEEPER_ENV": "development",
            "BEATKEEPER_BROKER_URL": self.broker_url,
            "BEATKEEPER_QUEUE_PREFIX": PREFIX,
            "BEATKEEPER_JOB_MODULES": "jobs.examples,benchmarks.chaos_jobs",
            "BEATKEEPER_CHAOS_LOG": str(self.log),
            "DATABASE_URL": self.database_url,
            **self.settings,
        }

    # -- processes -----------------------------------------------------------------
    def _python(self, name: str, *args: str) -> Proc:
        return Proc(name, [sys.executable, *args], self.env(), self.workdir)

    def start(self) -> None:
        self.start_broker()
        self.start_database()
        subprocess.run(
            [sys.executable, "-m", "broker", "declare"],
            env=self.env(),
            check=True,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        self.web = self._python(
            "web", "-m", "uvicorn", "--factory", "webapp.asgi:create_app",
            "--host", "127.0.0.1", "--port", str(self.web_port), "--log-level", "warning",
        ).start()  # fmt: skip
        for i in (1, 2):
            self.workers.append(
                self._python(f"worker{i}", "-m", "celery", "-A", "jobs", "worker",
                             "-n", f"chaos{i}@%h", "--loglevel", "INFO")
            )  # fmt: skip
            self.beats.append(
                self._python(f"beat{i}", "-m", "celery", "-A", "jobs", "beat", "--loglevel", "INFO")
            )
        for proc in self.workers:
            proc.start().wait_log("ready.")
        for proc in self.beats:
            proc.start()
        self.wait_web()

    def wait_web(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.api}/jobs", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError("the web process did not answer")

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.web_port}/api"

    def restart_worker(self, proc: Proc) -> None:
        proc.start()

    def close(self) -> None:
        for proc in [*self.beats, *self.workers, *filter(None, [self.web])]:
            with contextlib.suppress(Exception):
                proc.stop()
        for proxy in filter(None, [self.amqp_proxy, self.db_proxy]):
            proxy.close()
        for node in self.nodes:
            node.destroy()
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as conn,
        ):
            conn.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
