"""The shipped alert rules and Grafana dashboard, and celery-exporter's vendored dashboards,
load and name only metrics /metrics has (tests/e2e/test_prometheus.py evaluates them)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from jobs.monitoring.metrics import StateCollector, TaskMetrics
from jobs.schedules.health import HealthState

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"\b((?:celery|beatkeeper)_[a-z_]+)")


class OneOfEverything:
    """A StateSource with one row of each kind, so every gauge family shows up."""

    def queue_depths(self) -> list[tuple[str, int, int, int, bool]]:
        return [("bk.default", 1, 0, 1, False), ("bk.default.dlq", 2, 0, 0, True)]

    def schedule_rows(
        self,
    ) -> list[tuple[str, HealthState, datetime | None, datetime | None, int, int, int]]:
        now = datetime.now(UTC)
        return [("s", HealthState.UP, now, now, 1, 0, 0)]

    def beat(self) -> tuple[str, datetime, datetime]:
        now = datetime.now(UTC)
        return "beat@host", now, now

    def store_error(self) -> None:
        return None

    def workers(self) -> dict[str, int | None]:
        return {"w@host": 1}


def exposed_names() -> set[str]:
    registry = CollectorRegistry()
    TaskMetrics(registry)
    registry.register(StateCollector(OneOfEverything(), print))
    names: set[str] = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(s.name for s in family.samples)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def exprs_in(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr" and isinstance(value, str):
                yield value
            else:
                yield from exprs_in(value)
    elif isinstance(node, list):
        for item in node:
            yield from exprs_in(item)


def test_the_alert_rules_load_and_use_only_exposed_metrics() -> None:
    rules = yaml.safe_load((ROOT / "deploy/prometheus/beatkeeper-alerts.yml").read_text())
    names = exposed_names()
    alerts = [r["alert"] for g in rules["groups"] for r in g["rules"]]
    assert {"BeatkeeperScheduleDown", "BeatkeeperBeatNotTicking"} <= set(alerts)
    for expr in exprs_in(rules):
        assert set(NAME.findall(expr)) <= names, expr


def test_the_grafana_dashboard_loads_and_uses_only_exposed_metrics() -> None:
    dashboard = json.loads((ROOT / "deploy/grafana/beatkeeper.json").read_text())
    names = exposed_names()
    exprs = list(exprs_in(dashboard["panels"]))
    assert len(exprs) >= 10
    for expr in exprs:
        assert set(NAME.findall(expr)) <= names, expr


def test_celery_exporters_vendored_dashboards_use_only_exposed_metrics() -> None:
    names = exposed_names()
    for file in ("celery-tasks-by-task.json", "celery-tasks-overview.json"):
        dashboard = json.loads((ROOT / "tests/fixtures/celery_exporter" / file).read_text())
        queries = [v["query"] for v in dashboard["templating"]["list"] if v["type"] == "query"]
        for expr in [*exprs_in(dashboard["panels"]), *queries]:
            assert set(NAME.findall(expr)) <= names, f"{file}: {expr}"
