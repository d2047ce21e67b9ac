"""Example jobs that do real work. Delete this module (and drop it from
``BEATKEEPER_JOB_MODULES``) once you have your own jobs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
from pydantic import AfterValidator, Field, HttpUrl

from jobs.registry import JobRegistry
from jobs.runtime import current_settings, current_store
from jobs.targets import TargetError, checked_address

registry = JobRegistry()


class UnexpectedStatus(Exception):
    """The checked URL answered with another status than expected."""


class TargetRefused(Exception):
    """The URL leads into a network the example may not reach (not retried)."""


def _no_credentials(url: HttpUrl) -> HttpUrl:
    """Credentials in a URL would be stored and shown with the run: refused at enqueue."""
    if url.username or url.password:
        raise ValueError("credentials in the URL would be stored and shown with the run")
    return url


@registry.job(
    retry_on=(httpx.TransportError, UnexpectedStatus),
    max_retries=4,
    backoff_base=2,
    backoff_cap=60,
    time_limit=30,
    on_exhausted="discard",  # a failed check is recorded in run history; no DLQ pile-up
)
def check_url(
    url: Annotated[HttpUrl, AfterValidator(_no_credentials)],
    timeout: Annotated[float, Field(gt=0, le=60)] = 5.0,
    expect_status: Annotated[int, Field(ge=100, le=599)] = 200,
) -> dict[str, Any]:
    """GET a URL and check its status; retries network errors and unexpected statuses.

    Safe to leave enabled: the host name is resolved and every address must be public
    (private, loopback, link-local, multicast and reserved ones are refused unless
    BEATKEEPER_CHECK_URL_ALLOW names their network); the request goes to the address that
    was checked (no second look-up to rebind), and redirects are never followed.
    """
    host = url.host or ""
    try:
        address = checked_address(host, url.port or 443, current_settings().check_url_allow)
    except TargetError as exc:
        raise TargetRefused(str(exc)) from None
    pinned = httpx.URL(str(url)).copy_with(host=address)
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        response = client.get(
            pinned,
            headers={"Host": httpx.URL(str(url)).netloc.decode()},
            extensions={"sni_hostname": host},
        )
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
def cleanup_runs(
    # strict: true is not a number of days; 100 years keeps the cutoff inside datetime.
    older_than_days: Annotated[int, Field(ge=1, le=36_500, strict=True)] | None = None,
) -> dict[str, Any]:
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
