"""OpenAPI links: which answer names the resource that another operation takes.

A link says, for example, that the ``name`` in a 201 from ``POST /api/schedules`` is the
``{name}`` of ``GET /api/schedules/{name}``. Clients and code generators read them, and
schemathesis's stateful run follows them to chain real calls (tests/unit/test_api_fuzz.py).
They are written here, in one table, and added to the document that
``webapp/api/errors.py`` and ``webapp/auth/api.py`` describe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI


@dataclass(frozen=True)
class Link:
    """From ``source``'s ``status`` answer to ``target``, with its path parameter's value."""

    name: str
    source: str  # "METHOD /path"
    status: str
    target: str
    parameter: str
    value: str  # an OpenAPI runtime expression

    def document(self, operation_id: str) -> dict[str, Any]:
        return {"operationId": operation_id, "parameters": {self.parameter: self.value}}


SCHEDULE = "/api/schedules/{name}"
# What can be done to a schedule once its name is known.
SCHEDULE_TARGETS = {
    "GetSchedule": f"GET {SCHEDULE}",
    "UpdateSchedule": f"PATCH {SCHEDULE}",
    "DeleteSchedule": f"DELETE {SCHEDULE}",
    "PauseSchedule": f"POST {SCHEDULE}/pause",
    "ResumeSchedule": f"POST {SCHEDULE}/resume",
    "ResetSchedule": f"POST {SCHEDULE}/reset",
    "RunScheduleNow": f"POST {SCHEDULE}/run",
    "BackfillSchedule": f"POST {SCHEDULE}/backfill",
}
# Answers that carry one schedule: its creation and its detail. (Edits, pauses and resumes
# answer it too, but a link from each would multiply the same edges.)
SCHEDULE_SOURCES = (("POST /api/schedules", "201"), (f"GET {SCHEDULE}", "200"))
GET_RUN = "GET /api/runs/{run_id}"
GET_JOB = "GET /api/jobs/{name}"
ENQUEUE = "POST /api/jobs/{name}/runs"

LINKS: tuple[Link, ...] = (
    *(
        Link(name, source, status, target, "name", "$response.body#/name")
        for source, status in SCHEDULE_SOURCES
        for name, target in SCHEDULE_TARGETS.items()
        if target != source
    ),
    Link("GetFirstSchedule", "GET /api/schedules", "200", f"GET {SCHEDULE}", "name",
         "$response.body#/0/name"),
    Link("GetLatestRun", f"GET {SCHEDULE}", "200", GET_RUN, "run_id", "$response.body#/runs/0/id"),
    Link("GetScheduleJob", f"GET {SCHEDULE}", "200", GET_JOB, "name", "$response.body#/job"),
    # Runs: whatever sends one answers its id.
    Link("GetRun", ENQUEUE, "202", GET_RUN, "run_id", "$response.body#/id"),
    Link("GetRun", f"POST {SCHEDULE}/run", "202", GET_RUN, "run_id", "$response.body#/id"),
    Link("GetFirstRun", f"POST {SCHEDULE}/backfill", "202", GET_RUN, "run_id",
         "$response.body#/0/id"),
    Link("GetFirstRun", "GET /api/runs", "200", GET_RUN, "run_id", "$response.body#/0/id"),
    Link("GetRunJob", GET_RUN, "200", GET_JOB, "name", "$response.body#/job"),
    # Jobs: their names come from the registry, listed by GET /api/jobs.
    Link("GetFirstJob", "GET /api/jobs", "200", GET_JOB, "name", "$response.body#/0/name"),
    Link("EnqueueFirstJob", "GET /api/jobs", "200", ENQUEUE, "name", "$response.body#/0/name"),
    Link("Enqueue", GET_JOB, "200", ENQUEUE, "name", "$response.body#/name"),
)  # fmt: skip


def add_links(document: dict[str, Any], links: tuple[Link, ...] = LINKS) -> dict[str, Any]:
    """``document`` with each link in its source's answer; a link naming an operation that
    is not in the document is a KeyError (a route renamed without its links)."""
    paths = document["paths"]

    def operation(key: str) -> dict[str, Any]:
        method, path = key.split(" ", 1)
        found: dict[str, Any] = paths[path][method.lower()]
        return found

    for link in links:
        target_id = operation(link.target)["operationId"]
        answer = operation(link.source)["responses"][link.status]
        answer.setdefault("links", {})[link.name] = link.document(target_id)
    return document


def install(api: FastAPI) -> None:
    """Add the links to the application's OpenAPI document (after the other layers)."""
    described = api.openapi

    def openapi() -> dict[str, Any]:
        return add_links(described())

    api.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
