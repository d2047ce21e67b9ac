"""The whole stack as separate processes: API -> RabbitMQ -> worker -> run history -> Flower."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from kombu import Connection

from broker import declare
from broker.topology import describe
from jobs.settings import JobsSettings
from tests.conftest import settings_env
from tests.support.processes import free_port, running, wait_http
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]


def test_a_job_enqueued_through_the_api_succeeds_on_a_real_worker_and_shows_in_flower(
    rabbitmq_url: str, session_id: str, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'e2e.db'}"
    env = settings_env(f"bk-e2e-{session_id}", database_url)
    env.update(
        {
            "BEATKEEPER_BROKER_HEARTBEAT": "30",
            "BEATKEEPER_FLOWER_BASIC_AUTH": "e2e:e2e-password",
            "BEATKEEPER_FLOWER_DB": str(tmp_path / "flower.db"),
            "BEATKEEPER_FLOWER_PORT": str(flower_port := free_port()),
        }
    )
    settings = JobsSettings.from_env(env)
    topology = describe(settings.broker)
    web_port = free_port()
    from jobs.store.migrate import upgrade

    upgrade(database_url)
    with Connection(rabbitmq_url) as conn:
        declare.declare(conn, topology)
    try:
        with (
            running(
                "flower",
                ["-m", "celery", "-A", "jobs", "flower", "--conf=flower_config.py"],
                env,
                tmp_path,
            ),
            running(
                "worker",
                [
                    "-m",
                    "celery",
                    "-A",
                    "jobs",
                    "worker",
                    "-c",
                    "1",
                    "-l",
                    "INFO",
                    "-n",
                    f"e2e-{session_id}@%h",
                ],
                env,
                tmp_path,
            ),
            running(
                "web",
                ["-m", "uvicorn", "--factory", "webapp.asgi:create_app", "--port", str(web_port)],
                env,
                tmp_path,
            ),
        ):
            web = f"http://127.0.0.1:{web_port}"
            flower = f"http://127.0.0.1:{flower_port}"
            auth = ("e2e", "e2e-password")
            wait_http(f"{web}/api/health", lambda r: r.status_code == 200, 30)
            wait_http(f"{flower}/api/workers", lambda r: r.status_code == 200, 30, auth=auth)
            # Flower only records tasks whose events it saw: wait until it knows the worker.
            wait_http(
                f"{flower}/api/workers?refresh=1",
                lambda r: any(name.startswith("e2e-") for name in r.json()),
                30,
                auth=auth,
            )

            created = httpx.post(f"{web}/api/jobs/runs_report/runs", json={"kwargs": {"hours": 1}})
            assert created.status_code == 202, created.text
            run_id = created.json()["id"]

            run = wait_for(
                lambda: (r := httpx.get(f"{web}/api/runs/{run_id}").json())["done"] and r, 30
            )
            assert run["state"] == "SUCCESS"
            assert run["result"]["hours"] == 1

            task = wait_http(
                f"{flower}/api/task/info/{run_id}",
                lambda r: r.status_code == 200 and r.json().get("state") == "SUCCESS",
                30,
                auth=auth,
            ).json()
            assert task["name"] == "runs_report"
            assert task["uuid"] == run_id

            page = httpx.get(f"{web}/runs/{run_id}")
            assert page.status_code == 200 and "SUCCESS" in page.text
            assert httpx.get(f"{flower}/api/workers").status_code == 401  # basic auth is on
    finally:
        with Connection(rabbitmq_url) as conn:
            declare.delete(conn, topology)
