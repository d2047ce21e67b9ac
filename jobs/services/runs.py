"""Browsing runs for the API and the UI: filters checked once, keyset pages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine

from jobs.errors import FieldError, Invalid
from jobs.store.run_pages import BadCursor, RunFilter, decode_cursor, encode_cursor, page
from jobs.store.runs import RunRecord
from jobs.store.tables import RUN_ORIGINS, RUN_STATES

MAX_PAGE = 1000
FILTER_FIELDS = ("job", "state", "schedule", "origin", "since", "until", "error")


@dataclass(frozen=True)
class RunPage:
    runs: list[RunRecord]
    next: str | None  # the cursor of the following page; None on the last one


def _instant(field: str, text: str, errors: list[FieldError]) -> datetime | None:
    """ISO 8601; without a UTC offset, read as UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        errors.append({"field": field, "message": f"not an ISO 8601 time: {text!r}"})
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _one_of(field: str, value: str, allowed: tuple[str, ...], errors: list[FieldError]) -> None:
    if value not in allowed:
        errors.append(
            {"field": field, "message": f"unknown {field} {value!r}; one of {', '.join(allowed)}"}
        )


def parse_filter(given: Mapping[str, str | None]) -> RunFilter:
    """The filter the API's query and the UI's form give (blank means "any"); raises Invalid
    naming each bad field."""
    values = {k: (given.get(k) or "").strip() or None for k in FILTER_FIELDS}
    errors: list[FieldError] = []
    if values["state"]:
        _one_of("state", values["state"], RUN_STATES, errors)
    if values["origin"]:
        _one_of("origin", values["origin"], RUN_ORIGINS, errors)
    since = _instant("since", values["since"], errors) if values["since"] else None
    until = _instant("until", values["until"], errors) if values["until"] else None
    if since and until and until <= since:
        errors.append({"field": "until", "message": "must be after since"})
    if errors:
        raise Invalid(errors)
    return RunFilter(
        job=values["job"],
        state=values["state"],
        schedule=values["schedule"],
        origin=values["origin"],
        since=since,
        until=until,
        error=values["error"],
    )


def browse_runs(
    engine: Engine,
    filters: Mapping[str, str | None] | None = None,
    *,
    after: str | None = None,
    limit: int = 50,
) -> RunPage:
    """Newest first; raises Invalid naming each bad filter."""
    errors: list[FieldError] = []
    try:
        where = parse_filter(filters or {})
    except Invalid as exc:
        errors += exc.errors
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
    rows, following = page(engine, where, cursor, limit)
    return RunPage(rows, encode_cursor(following) if following else None)
