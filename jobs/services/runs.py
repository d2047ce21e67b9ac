"""Browsing runs for the API and the UI: filters checked once, keyset pages."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from jobs.errors import Invalid
from jobs.store.run_pages import BadCursor, RunFilter, decode_cursor, encode_cursor, page
from jobs.store.runs import RunRecord
from jobs.store.tables import RUN_STATES

MAX_PAGE = 1000


@dataclass(frozen=True)
class RunPage:
    runs: list[RunRecord]
    next: str | None  # the cursor of the following page; None on the last one


def browse_runs(
    engine: Engine,
    *,
    job: str | None = None,
    state: str | None = None,
    schedule: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> RunPage:
    """Newest first; raises Invalid naming each bad filter."""
    errors = []
    if state is not None and state not in RUN_STATES:
        errors.append(
            {
                "field": "state",
                "message": f"unknown state {state!r}; one of {', '.join(RUN_STATES)}",
            }
        )
    if not 1 <= limit <= MAX_PAGE:
        errors.append({"field": "limit", "message": f"must be between 1 and {MAX_PAGE}"})
    cursor = None
    if after:
        try:
            cursor = decode_cursor(after)
        except BadCursor as exc:
            errors.append({"field": "after", "message": str(exc)})
    if errors:
        raise Invalid(errors)
    rows, following = page(engine, RunFilter(job, state, schedule), cursor, limit)
    return RunPage(rows, encode_cursor(following) if following else None)
