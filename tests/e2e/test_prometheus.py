"""A real Prometheus scrapes a real stack's /metrics and evaluates every shipped query.

The stack (uvicorn, one worker and a beat on the shared RabbitMQ, a temporary SQLite store,
auth on) runs jobs that succeed, fail and retry, in two batches so series first seen in the
first batch still show an increase; Prometheus scrapes /metrics every second with a
read-scoped bearer token and loads deploy/prometheus/beatkeeper-alerts.yml. Then every
expression in our alert rules, our Grafana dashboard and celery-exporter's dashboards
(grafana.com 17508/17509, vendored unchanged in tests/fixtures/celery_exporter) is evaluated
through Prometheus's HTTP API, with Grafana's variables filled in as Grafana would: none may
error, and every target must return numbers (but for a panel that only shows trouble).

A scrape can outlast the 1 s scrape timeout on a loaded machine and fail; Prometheus then
marks the target's series stale, so "now" for the dashboards is the last successful scrape.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import unavailable
from tests.support.processes import ROOT
from tests.support.prometheus import (
    LABEL_VALUES,
    PROMTOOL,
    Prometheus,
    PromQLError,
    Target,
    has_finite_value,
    missing_binaries,
    running_prometheus,
    substitute,
    targets,
)
from tests.support.stack import accounts, running_stack, stack_env
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration, pytest.mark.slow]

RULES = ROOT / "deploy" / "prometheus" / "beatkeeper-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "beatkeeper-alerts.test.yml"
SCRAPE_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
OUR_DASHBOARD = ROOT / "deploy" / "grafana" / "beatkeeper.json"
EXPORTER = ROOT / "tests" / "fixtures" / "celery_exporter"
SCRAPE_JOB = "beatkeeper"
# Grafana's built-in intervals for a dashboard over the test's window with a 1 s scrape:
# $__interval is the range query's step; $__rate_interval is max(step + scrape, 4 x scrape).
STEP = 1.0
RATE_INTERVAL = "4s"

# Every target of every panel must return numbers once the jobs ran (a task's counters that
# did not move are zero-valued series, as celery-exporter's are), except these, which show
# something only when it goes wrong.
MAY_BE_EMPTY = {
    "Schedules not up",  # every schedule of this test may be up
}


@dataclass(frozen=True)
class Monitored:
    prometheus: Prometheus
    start: float  # before the first job: the dashboards' time range starts here
    logs: Path

    def window(self) -> tuple[float, float]:
        """From the first job to the last successful scrape (see ``last_good_scrape``)."""
        return self.start, self.prometheus.last_good_scrape(time.time())


class Driver:
    """Enqueues through the API with a token and waits for the runs to finish."""

    def __init__(self, url: str, token: str) -> None:
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )

    def close(self) -> None:
        self.http.close()

    def enqueue(self, job: str, **kwargs: Any) -> str:
        answer = self.http.post(f"/api/jobs/{job}/runs", json={"kwargs": kwargs})
        assert answer.status_code == 202, answer.text
        run_id: str = answer.json()["id"]
        return run_id

    def finished(self, run_ids: list[str]) -> bool:
        return all(self.http.get(f"/api/runs/{run}").json().get("done") for run in run_ids)

    def batch(self) -> list[str]:
        """Two successes, one failure for good (dead-lettered) and one retry then success."""
        key = uuid.uuid4().hex[:8]
        return [
            self.enqueue("add", x=1, y=2),
            self.enqueue("sleep_for", seconds=0.2),
            self.enqueue("fails_without_retry", key=key),
            self.enqueue("flaky", key=key, fail_times=1),
        ]


def scraped(prometheus: Prometheus, expr: str, at_least: float) -> bool:
    result = prometheus.query(expr, time.time())["result"]
    return bool(result) and float(result[0]["value"][1]) >= at_least


def run_and_wait_for_scrape(
    driver: Driver, prometheus: Prometheus, runs: list[str], failed: int, succeeded: int
) -> None:
    """Wait for ``runs`` to finish and for the scrape to count at least that many attempts
    failed and succeeded in all (the schedule's runs add successes)."""
    wait_for(lambda: driver.finished(runs), 60, 0.2)
    wait_for(lambda: scraped(prometheus, "sum(celery_task_failed_total)", failed), 30, 0.2)
    wait_for(lambda: scraped(prometheus, "sum(celery_task_succeeded_total)", succeeded), 30, 0.2)


def drive(driver: Driver, prometheus: Prometheus) -> None:
    """A schedule firing every second (lateness, schedule state, the beat's ticks) and two
    batches of runs, each until the scrape shows it: a series first scraped with the event
    that made it has no increase yet, so the second batch makes increase() above 0. The first
    also has a flaky run that fails for good (its retries wait 1, 2 and 4 s): the same job
    then succeeds and fails, as the by-task dashboard's success rate needs."""
    schedule = {"name": "every-second", "job": "add", "kwargs": {"x": 1}, "trigger": "interval"}
    created = driver.http.post("/api/schedules", json={**schedule, "interval_seconds": 1})
    assert created.status_code == 201, created.text
    for_good = driver.enqueue("flaky", key=uuid.uuid4().hex[:8], fail_times=99)
    run_and_wait_for_scrape(driver, prometheus, [for_good, *driver.batch()], 2, 3)
    run_and_wait_for_scrape(driver, prometheus, driver.batch(), 3, 6)
    # A series seen in one scrape only has no rate or increase yet: two more scrapes.
    settled = time.time()
    wait_for(lambda: prometheus.last_good_scrape(time.time()) > settled + 2, 30, 0.2)


@pytest.fixture(scope="module")
def monitored(
    rabbitmq_url: str, session_id: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Monitored]:
    if (why := missing_binaries()) is not None:
        unavailable(why)
    tmp = tmp_path_factory.mktemp("prometheus")
    env = stack_env(f"bk-prom-{session_id}", tmp)
    with accounts(env) as tokens:
        scrape_token = tokens.create_token("prometheus", ["read"], "test").secret
        driver_scopes = ["read", "enqueue", "schedules"]
        driver_token = tokens.create_token("driver", driver_scopes, "test").secret
    with (
        running_stack(rabbitmq_url, env, f"prom-{session_id}", tmp) as base,
        running_prometheus(
            base.removeprefix("http://"), scrape_token, [RULES], tmp, SCRAPE_JOB
        ) as prom,
    ):
        start = time.time()
        with closing(Driver(base, driver_token)) as driver:
            drive(driver, prom)
        yield Monitored(prom, start, tmp)


def evaluate(
    prometheus: Prometheus, target: Target, values: dict[str, str], window: tuple[float, float]
) -> dict[str, Any]:
    """As Grafana does: an instant query at the end of the range, or a range query."""
    expr = substitute(target.expr, values)
    start, end = window
    if target.instant:
        return prometheus.query(expr, end)
    return prometheus.query_range(expr, start, end, STEP)


def check_dashboard(
    monitored: Monitored, dashboard: dict[str, Any], values: dict[str, str]
) -> None:
    """Every target evaluates, and each returns numbers unless its panel is in MAY_BE_EMPTY."""
    window = monitored.window()
    errors: list[str] = []
    empty: list[str] = []
    for target in targets(dashboard):
        expr = substitute(target.expr, values)
        try:
            data = evaluate(monitored.prometheus, target, values, window)
        except PromQLError as exc:
            errors.append(f"{target.panel}: {expr}: {exc}")
            continue
        if not has_finite_value(data) and target.panel not in MAY_BE_EMPTY:
            empty.append(f"{target.panel}: {expr}")
    assert errors == []
    assert empty == [], f"targets without data (logs in {monitored.logs})"


def grafana_variables(
    monitored: Monitored, dashboard: dict[str, Any], chosen: dict[str, str]
) -> dict[str, str]:
    """Each query variable resolved in order through label_values, as Grafana fills its
    drop-downs: a variable with no values is "" (matching series without the label); an
    "All" selection is the alternation of every value; ``chosen`` picks one value."""
    start, end = monitored.window()
    interval = f"{int(end - start) + 1}s"
    values = {"__interval": f"{STEP:.0f}s", "__rate_interval": RATE_INTERVAL, "__range": interval}
    for variable in dashboard["templating"]["list"]:
        name = variable["name"]
        if variable["type"] == "datasource":
            values[name] = "prometheus"
            continue
        found = LABEL_VALUES.match(variable["query"])
        assert found, f"${name}: not a label_values() query: {variable['query']}"
        selector = substitute(found["selector"], values)
        listed = monitored.prometheus.label_values(selector, found["label"], start, end)
        if name in chosen:
            assert chosen[name] in listed, f"${name} offers {listed}, not {chosen[name]}"
            values[name] = chosen[name]
        elif variable.get("includeAll"):
            assert listed, f"${name} offers nothing to choose from"
            values[name] = "(" + "|".join(listed) + ")"
        else:
            values[name] = listed[0] if listed else ""
    return values


def test_the_alert_rules_pass_promtool_check_and_their_own_unit_tests() -> None:
    if (why := missing_binaries()) is not None:
        unavailable(why)
    for command in (["check", "rules", str(RULES)], ["test", "rules", str(RULE_TESTS)]):
        done = subprocess.run([PROMTOOL, *command], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def test_the_shipped_prometheus_config_passes_promtool_with_its_rules_and_token_file(
    tmp_path: Path,
) -> None:
    if (why := missing_binaries()) is not None:
        unavailable(why)
    config = yaml.safe_load(SCRAPE_CONFIG.read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics" and job["authorization"]["type"] == "Bearer"
    assert config["rule_files"] == [RULES.name]
    token = tmp_path / "beatkeeper.token"  # the file the operator writes; promtool opens it
    token.write_text("bk_example")
    job["authorization"]["credentials_file"] = str(token)
    (tmp_path / RULES.name).write_text(RULES.read_text())
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [PROMTOOL, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 1 rule files found" in done.stdout, done.stdout


def test_prometheus_loads_the_alert_rules_and_evaluates_every_one_without_an_error(
    monitored: Monitored,
) -> None:
    shipped = yaml.safe_load(RULES.read_text())
    expected = {r["alert"] for g in shipped["groups"] for r in g["rules"]}

    def evaluated() -> list[dict[str, Any]]:
        rules = [r for g in monitored.prometheus.rule_groups() for r in g["rules"]]
        done = all(r["lastEvaluation"] > "2000" for r in rules)
        return rules if done and {r["name"] for r in rules} == expected else []

    rules = wait_for(evaluated, 15, 0.2)
    assert [(r["name"], r.get("lastError", "")) for r in rules if r["health"] != "ok"] == []
    _, now = monitored.window()
    for rule in rules:
        monitored.prometheus.query(rule["query"], now)  # raises PromQLError on an error


def test_every_query_of_the_shipped_grafana_dashboard_evaluates_and_its_panels_show_the_runs(
    monitored: Monitored,
) -> None:
    dashboard = json.loads(OUR_DASHBOARD.read_text())
    check_dashboard(monitored, dashboard, {"datasource": "prometheus"})


@pytest.mark.parametrize(
    ("file", "chosen"),
    [
        ("celery-tasks-overview.json", {"job": SCRAPE_JOB}),
        ("celery-tasks-by-task.json", {"job": SCRAPE_JOB, "task": "flaky"}),
    ],
    ids=["17509-overview", "17508-by-task"],
)
def test_celery_exporters_dashboards_evaluate_unchanged_and_show_the_runs(
    monitored: Monitored, file: str, chosen: dict[str, str]
) -> None:
    dashboard = json.loads((EXPORTER / file).read_text())
    values = grafana_variables(monitored, dashboard, chosen)
    assert values["cluster"] == values["namespace"] == ""  # series without those labels
    check_dashboard(monitored, dashboard, values)
