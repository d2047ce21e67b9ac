"""One way to show a time and a duration on every page.

A time is rendered as ``<time datetime="...">2026-12-02 15:04:05 UTC</time>`` (UTC, to the
second); ``static/times.js`` adds the viewer's own zone beside it in the browser, so a page
reads the same for everyone and each viewer also sees their local time. Durations carry
their unit and scale with their size.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask
from markupsafe import Markup, escape

from jobs.store.runs import RunRecord

FORMAT = "%Y-%m-%d %H:%M:%S"


def when(value: datetime | str | None, empty: str = "—") -> Markup:
    """A time in UTC, marked up for times.js to add the viewer's zone; an ISO 8601 string
    (a dead letter's x-death time) too, and any other text as it is."""
    if value is None or value == "":
        return Markup(escape(empty))
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return Markup(escape(value))
    # A naive time from the store is UTC (SQLite keeps no offset), not the server's zone.
    utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    iso = utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return Markup('<time datetime="{}" data-local>{} UTC</time>').format(iso, utc.strftime(FORMAT))


def duration(ms: float | None, empty: str = "—") -> str:
    """Milliseconds as people read them: 8.4 ms, 1.25 s, 3 min 05 s, 2 h 01 min."""
    if ms is None:
        return empty
    sign, ms = ("-" if ms < 0 else ""), abs(ms)
    if ms < 1000:
        return f"{sign}{ms:.1f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{sign}{seconds:.2f} s"
    if seconds < 3600:
        return f"{sign}{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{sign}{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def seconds(value: float | None, empty: str = "—") -> str:
    """Seconds (as the store keeps a retry's wait) with their unit."""
    return empty if value is None else duration(value * 1000)


def reason_at(run: RunRecord, now: datetime) -> str | None:
    """Why the run is where it is, as of ``now``: a fire sent ahead keeps the store's "held by
    the broker until due" once it is due and still waits, which reads as if it were early."""
    if run.held and run.state == "PENDING" and run.scheduled_for and run.scheduled_for <= now:
        return "due, waiting for a worker (it was sent ahead and held by the broker until due)"
    return run.reason


def reason(run: RunRecord) -> str | None:
    return reason_at(run, datetime.now(UTC))


def install(app: Flask) -> None:
    app.add_template_filter(when, "when")
    app.add_template_filter(duration, "duration")
    app.add_template_filter(seconds, "seconds")
    app.add_template_filter(reason, "reason")
