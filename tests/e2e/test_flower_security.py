"""A real Flower process refuses cross-origin writes in development and keeps its monitoring
endpoints behind basic auth outside it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import settings_env
from tests.support.processes import ROOT, free_port, running, wait_http

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

EVIL = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}
APPLY = "/api/task/async-apply/jobs.examples.add"
# Outside development the settings refuse the guest account; Flower needs no working broker
# to answer HTTP, so these credentials are never used.
PRODUCTION = {
    "BEATKEEPER_ENV": "production",
    "BEATKEEPER_BROKER_URL": "amqp://beatkeeper:not-used-here@127.0.0.1:5672/beatkeeper",
    "BEATKEEPER_RABBITMQ_MANAGEMENT_URL": "http://beatkeeper:not-used-here@127.0.0.1:15672",
}


def _env(session_id: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = settings_env(f"bk-flower-{session_id}", f"sqlite:///{tmp_path / 'flower-test.db'}")
    return {
        **env,
        "BEATKEEPER_BROKER_HEARTBEAT": "30",
        "BEATKEEPER_FLOWER_DB": str(tmp_path / "flower.db"),
        "BEATKEEPER_FLOWER_PORT": str(free_port()),
        **extra,
    }


def _flower(env: dict[str, str], tmp_path: Path) -> tuple[str, list[str]]:
    url = f"http://127.0.0.1:{env['BEATKEEPER_FLOWER_PORT']}"
    return url, ["-m", "celery", "-A", "jobs", "flower", "--conf=flower_config.py"]


def test_flower_in_development_answers_no_cross_origin_write_even_with_the_old_opt_in(
    rabbitmq_url: str, session_id: str, tmp_path: Path
) -> None:
    # FLOWER_UNAUTHENTICATED_API in the shell used to open the API to every web page.
    env = _env(session_id, tmp_path, FLOWER_UNAUTHENTICATED_API="true")
    url, argv = _flower(env, tmp_path)
    with running("flower-dev", argv, env, tmp_path):
        wait_http(f"{url}/healthcheck", lambda r: r.status_code == 200, 60)
        preflight = httpx.options(f"{url}{APPLY}", headers=EVIL)
        posted = httpx.post(f"{url}{APPLY}", json={"args": [1, 2]}, headers=EVIL)
        shutdown = httpx.post(f"{url}/api/worker/shutdown/anyone", headers=EVIL)
    for response in (preflight, posted, shutdown):
        assert "access-control-allow-origin" not in response.headers
    assert posted.status_code == 401
    assert shutdown.status_code == 401


def test_flower_outside_development_keeps_metrics_and_healthcheck_behind_basic_auth(
    session_id: str, tmp_path: Path
) -> None:
    auth = ("ops", "a-long-flower-password-for-tests")
    env = _env(session_id, tmp_path, **PRODUCTION, BEATKEEPER_FLOWER_BASIC_AUTH=":".join(auth))
    url, argv = _flower(env, tmp_path)
    with running("flower-prod", argv, env, tmp_path):
        wait_http(f"{url}/healthcheck", lambda r: r.status_code == 200, 60, auth=auth)
        anonymous = {path: httpx.get(f"{url}{path}") for path in ("/metrics", "/healthcheck", "/")}
        metrics = httpx.get(f"{url}/metrics", auth=auth)
        wrong = httpx.get(f"{url}/metrics", auth=("ops", "wrong-password"))
        cross_site = httpx.post(f"{url}{APPLY}", json={"args": [1, 2]}, headers=EVIL, auth=auth)
    assert {path: r.status_code for path, r in anonymous.items()} == {
        "/metrics": 401,
        "/healthcheck": 401,
        "/": 401,
    }
    assert wrong.status_code == 401
    assert metrics.status_code == 200
    assert "flower_" in metrics.text
    # Even with the right credentials, a request another site makes is refused.
    assert cross_site.status_code == 403
    assert "access-control-allow-origin" not in cross_site.headers


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        ({**PRODUCTION}, "BEATKEEPER_FLOWER_BASIC_AUTH"),
        ({"BEATKEEPER_FLOWER_ADDRESS": "0.0.0.0"}, "BEATKEEPER_FLOWER_ADDRESS"),
    ],
    ids=["production-without-auth", "development-on-all-interfaces"],
)
def test_flower_refuses_to_start_open_to_others(
    session_id: str, tmp_path: Path, extra: dict[str, str], named: str
) -> None:
    env = _env(session_id, tmp_path, **extra)
    _, argv = _flower(env, tmp_path)
    result = subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert named in result.stderr + result.stdout
