"""A real stack as processes: uvicorn, one worker and a beat on the shared RabbitMQ, a
temporary SQLite store, sign-in on. The browser tests and the Prometheus test both run one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kombu import Connection

from broker import declare
from broker.topology import describe
from jobs.settings import JobsSettings
from jobs.store.db import make_engine
from jobs.store.migrate import upgrade
from tests.conftest import settings_env
from tests.support.processes import free_port, running, wait_http
from tests.support.waiting import wait_for
from webapp.auth.accounts import Accounts

JOB_MODULES = "jobs.examples,tests.support.testjobs"


def stack_env(prefix: str, folder: Path) -> dict[str, str]:
    """The stack's settings (queue prefix ``prefix``, auth on, the example and test jobs),
    with its SQLite store in ``folder`` created and migrated."""
    database_url = f"sqlite:///{folder / 'beatkeeper.db'}"
    env = settings_env(prefix, database_url)
    env["BEATKEEPER_BROKER_HEARTBEAT"] = "30"  # settings_env's 0 is for embedded workers
    env["BEATKEEPER_JOB_MODULES"] = JOB_MODULES
    env["BEATKEEPER_AUTH"] = "true"
    upgrade(database_url)
    return env


@contextmanager
def accounts(env: dict[str, str]) -> Iterator[Accounts]:
    """The stack store's users and tokens, to set them up before the stack starts."""
    engine = make_engine(env["DATABASE_URL"])
    try:
        yield Accounts(engine)
    finally:
        engine.dispose()


@contextmanager
def running_stack(rabbitmq_url: str, env: dict[str, str], node: str, logs: Path) -> Iterator[str]:
    """Declare the topology, run the web application, a worker (named ``node@host``) and a
    beat with their logs in ``logs``; yield the web application's base URL once it answers
    and the worker is ready. Stop them and delete the topology afterwards."""
    topology = describe(JobsSettings.from_env(env).broker)
    with Connection(rabbitmq_url) as conn:
        declare.declare(conn, topology)
    port = free_port()
    worker = ["-m", "celery", "-A", "jobs", "worker", "-c", "1", "-l", "INFO"]
    worker += ["-n", f"{node}@%h"]
    beat = ["-m", "celery", "-A", "jobs", "beat", "-l", "INFO"]
    web = ["-m", "uvicorn", "--factory", "webapp.asgi:create_app", "--port", str(port)]
    try:
        with (
            running("worker", worker, env, logs),
            running("beat", beat, env, logs),
            running("web", web, env, logs),
        ):
            base = f"http://127.0.0.1:{port}"
            wait_http(f"{base}/livez", lambda r: r.status_code == 200, 30)
            wait_for(lambda: b" ready." in (logs / "worker.log").read_bytes(), 60)
            yield base
    finally:
        with Connection(rabbitmq_url) as conn:
            declare.delete(conn, topology)
