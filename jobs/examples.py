"""Example jobs that do real work. Delete this module (and drop it from
``BEATKEEPER_JOB_MODULES``) once you have your own jobs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
from pydantic import Field, HttpUrl

from jobs.registry import JobRegistry
from jobs.runtime import current_settings, current_store

registry = JobRegistry()


class UnexpectedStatus(Exception):
    """The checked URL answered with another status than expected."""


@registry.job(
    retry_on=(httpx.TransportError, UnexpectedStatus),
    max_retries=4,
    backoff_base=2,
    backoff_cap=60,
    time_limit=30,
    on_exhausted="discard",  # a failed check is recorded in run history; no DLQ pile-up
)
def check_url(
    url: HttpUrl,
    timeout: Annotated[float, Field(gt=0, le=60)] = 5.0,
    expect_status: Annotated[int, Field(ge=100, le=599)] = 200,
) -> dict[str, Any]:
    """GET a URL and check its status; retries network errors and unexpected statuses."""
    response = httpx.get(str(url), timeout=timeout, follow_redirects=False)
    if response.status_code != expect_status:
        raise UnexpectedStatus(f"{url} answered {response.status_code}, expected {expect_status}")
    return {
        "url": str(url),
        "status": response.status_code,
        "elapsed_ms": round(response.elapsed.total_seconds() * 1000, 2),
        "bytes": len(response.content),
    }


@registry.job(max_retries=2, backoff_base=5, time_limit=120)
def runs_report(hours: Annotated[int, Field(ge=1, le=24 * 90)] = 24) -> dict[str, Any]:
    """Summarise the last ``hours`` of runs: counts by state, failure rate, runtimes, per job."""
    since = datetime.now(UTC) - timedelta(hours=hours)
    per_job = current_store().stats(since)
    report = {}
    for job, entry in sorted(per_job.items()):
        states = entry["states"]
        finished = states.get("SUCCESS", 0) + states.get("FAILURE", 0)
        report[job] = {
            "runs": sum(states.values()),
            "states": states,
            "failure_rate": round(states.get("FAILURE", 0) / finished, 4) if finished else None,
            "avg_ms": round(entry["avg_ms"], 2) if entry["avg_ms"] is not None else None,
            "max_ms": round(entry["max_ms"], 2) if entry["max_ms"] is not None else None,
        }
    return {"since": since.isoformat(), "hours": hours, "jobs": report}


@registry.job(queue="slow", max_retries=3, backoff_base=10, time_limit=600)
def cleanup_runs(older_than_days: Annotated[int, Field(ge=1)] | None = None) -> dict[str, Any]:
    """Delete finished runs older than ``older_than_days`` days.

    The default is BEATKEEPER_RUN_RETENTION_DAYS.
    """
    days = older_than_days or current_settings().run_retention_days
    cutoff = datetime.now(UTC) - timedelta(days=days)
    deleted = current_store().delete_finished_before(cutoff)
    return {"deleted": deleted, "cutoff": cutoff.isoformat()}


registry.schedule("hourly-runs-report", "runs_report", cron="5 * * * *", kwargs={"hours": 1})
registry.schedule(
    "nightly-cleanup", "cleanup_runs", cron="17 3 * * *", timezone="UTC", overlap="skip"
)
