"""A real Prometheus for the tests, and Grafana's side of a dashboard.

``running_prometheus`` starts Debian's ``prometheus`` on a free port with a temporary data
folder, scraping one target's /metrics with a bearer token and loading rule files; its
``Prometheus`` client evaluates PromQL through the HTTP API as Grafana does (an instant query
for a target marked ``instant``, a range query otherwise). ``targets`` lists every query a
dashboard holds, rows included, and ``substitute`` fills Grafana's variables in.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.support.processes import free_port, stop, wait_http

PROMETHEUS = os.environ.get("BEATKEEPER_TEST_PROMETHEUS", "prometheus")
PROMTOOL = os.environ.get("BEATKEEPER_TEST_PROMTOOL", "promtool")
INSTALL = "sudo apt-get install -y prometheus"
# $name, ${name} and ${name:format}; Grafana's own ${__data...} (links, not queries) too.
VARIABLE = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|(\w+))")
LABEL_VALUES = re.compile(r"^\s*label_values\((?P<selector>.*),\s*(?P<label>\w+)\s*\)\s*$", re.S)


def missing_binaries() -> str | None:
    """Why the Prometheus tests cannot run here (with the command that fixes it), or None."""
    absent = [b for b in (PROMETHEUS, PROMTOOL) if shutil.which(b) is None]
    return f"{' and '.join(absent)} not installed: {INSTALL}" if absent else None


class PromQLError(AssertionError):
    pass


@dataclass(frozen=True)
class Target:
    """One query of a dashboard panel."""

    panel: str
    expr: str
    instant: bool


def targets(dashboard: Mapping[str, Any]) -> list[Target]:
    """Every target with an expression, in every panel and every panel inside a row."""
    found: list[Target] = []

    def walk(panels: list[Any]) -> None:
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found.append(
                        Target(panel["title"], target["expr"], bool(target.get("instant")))
                    )
            walk(panel.get("panels", []))

    walk(list(dashboard.get("panels", [])))
    return found


def substitute(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each ``$name``/``${name}`` replaced; an unknown variable is a KeyError."""
    return VARIABLE.sub(lambda m: values[m.group(1) or m.group(2)], text)


def has_finite_value(data: Mapping[str, Any]) -> bool:
    """Whether a query's result holds a series (or scalar) with at least one number in it."""
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        return math.isfinite(float(result[1]))
    points = [r["value"] for r in result] if kind == "vector" else [
        v for r in result for v in r["values"]
    ]  # fmt: skip
    return any(math.isfinite(float(value)) for _, value in points)


class Prometheus:
    def __init__(self, url: str, job: str, log: Path) -> None:
        self.url = url
        self.job = job  # the scrape job's name: the `job` label of every series it scraped
        self.log = log
        self.http = httpx.Client(base_url=url, timeout=30)

    def _get(self, path: str, **params: Any) -> Any:
        answer = self.http.get(path, params=params).json()
        if answer.get("status") != "success":
            raise PromQLError(f"{answer.get('errorType')}: {answer.get('error')}")
        return answer["data"]

    def query(self, expr: str, at: float) -> dict[str, Any]:
        data: dict[str, Any] = self._get("/api/v1/query", query=expr, time=at)
        return data

    def query_range(self, expr: str, start: float, end: float, step: float) -> dict[str, Any]:
        data: dict[str, Any] = self._get(
            "/api/v1/query_range", query=expr, start=start, end=end, step=step
        )
        return data

    def label_values(self, selector: str, label: str, start: float, end: float) -> list[str]:
        """What Grafana's ``label_values(selector, label)`` lists for a variable."""
        values: list[str] = self._get(
            f"/api/v1/label/{label}/values", **{"match[]": selector, "start": start, "end": end}
        )
        return values

    def last_good_scrape(self, at: float) -> float:
        """When the newest scrape before ``at`` that succeeded happened. A failed scrape marks
        every series of its target stale, so Grafana's "now" is that scrape's time here."""
        expr = f'up{{job="{self.job}"}}[60s]'
        samples = [v for r in self.query(expr, at)["result"] for v in r["values"]]
        good = [float(t) for t, value in samples if value == "1"]
        if not good:
            raise PromQLError(f"no successful scrape of {self.job} in the last minute")
        return max(good)

    def rule_groups(self) -> list[dict[str, Any]]:
        groups: list[dict[str, Any]] = self._get("/api/v1/rules")["groups"]
        return groups

    def close(self) -> None:
        self.http.close()


@contextmanager
def running_prometheus(
    target: str, token: str, rule_files: list[Path], folder: Path, job: str = "beatkeeper"
) -> Iterator[Prometheus]:
    """Prometheus scraping ``http://target/metrics`` every second with ``token``; its config,
    data and log in ``folder``. Killed (process group) and closed on exit."""
    # The timeout cannot exceed the interval: a slower scrape fails (see last_good_scrape).
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": "/metrics",
                "authorization": {"type": "Bearer", "credentials": token},
                "static_configs": [{"targets": [target]}],
            }
        ],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log_path = folder / "prometheus.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    prometheus = Prometheus(f"http://127.0.0.1:{port}", job, log_path)
    try:
        wait_http(f"{prometheus.url}/-/ready", lambda r: r.status_code == 200, 30)
        yield prometheus
    finally:
        prometheus.close()
        stop(process)
        log.close()
