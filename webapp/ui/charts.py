"""Charts as inline SVG, drawn on the server: no script, no library, nothing from other hosts.

Pure functions from values to markup (and ``run_charts``, which reads the store for them).
Colours come from the page's CSS variables
(``static/monitor.css``), so dark mode applies; every point and bar carries a ``<title>``
(a tooltip, read by screen readers) and the chart an ``aria-label`` that sums it up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

from markupsafe import Markup, escape
from sqlalchemy import Engine

from jobs.store.run_stats import failure_buckets, recent_points
from webapp.ui.formatting import duration

WIDTH, HEIGHT = 640, 160
LEFT, RIGHT, TOP, BOTTOM = 74, 10, 10, 24


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (> 0)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(m * power for m in (1.0, 2.0, 5.0, 10.0) if m * power >= value)


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%m-%d %H:%M")


def _x_axis(first: str, last: str, caption: str) -> list[str]:
    """The x axis's two ends and, between them, what it measures (with its zone)."""
    base = HEIGHT - 6
    return [
        f'<text class="tick" x="{LEFT}" y="{base}">{escape(first)}</text>',
        f'<text class="axis" x="{(LEFT + WIDTH - RIGHT) / 2:.0f}" y="{base}" '
        f'text-anchor="middle">{escape(caption)}</text>',
        f'<text class="tick" x="{WIDTH - RIGHT}" y="{base}" text-anchor="end">'
        f"{escape(last)}</text>",
    ]


def _frame(label: str, body: list[str], ticks: list[tuple[float, str]]) -> Markup:
    grid = [
        f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(text)}</text>'
        for y, text in ticks
    ]
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}">' + "".join(grid) + "".join(body) + "</svg>"
    )


def time_chart(
    title: str,
    points: Sequence[tuple[datetime, float, bool]],
    empty: str = "No runs yet.",
    x_caption: str = "time (UTC)",
) -> Markup:
    """Milliseconds over time, one dot per run (``failed`` ones marked), joined by a line;
    the y axis in a unit that suits its range, the x axis says what time it is (UTC)."""
    if not points:
        return Markup('<p class="muted chart-empty">{}</p>').format(empty)
    times = [p[0].timestamp() for p in points]
    values = [p[1] for p in points]
    t0, span = times[0], (times[-1] - times[0]) or 1.0
    low = min(0.0, min(values))
    high = nice_ceiling(max(values)) if max(values) > 0 else 1.0
    if low < 0:
        low = -nice_ceiling(-low)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: float) -> float:
        return LEFT + (t - t0) / span * inner_w if len(points) > 1 else LEFT + inner_w / 2

    def y(v: float) -> float:
        return TOP + (high - v) / (high - low) * inner_h

    line = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(times, values, strict=True))
    body = [f'<polyline class="series" points="{line}"/>']
    for (at, value, failed), t in zip(points, times, strict=True):
        tip = f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC: {duration(value)}"
        tip += " (failed)" if failed else ""
        body.append(
            f'<circle class="point{" failed" if failed else ""}" cx="{x(t):.1f}" '
            f'cy="{y(value):.1f}" r="2.5"><title>{escape(tip)}</title></circle>'
        )
    body += _x_axis(_stamp(points[0][0]), _stamp(points[-1][0]), x_caption)
    levels = [low + (high - low) * i / 4 for i in range(5)]
    ticks = [(y(v), duration(v)) for v in levels]
    failures = sum(1 for p in points if p[2])
    label = (
        f"{title}: {len(points)} runs, latest {duration(values[-1])}, "
        f"highest {duration(max(values))}, {failures} failed"
    )
    return _frame(label, body, ticks)


def rate_bars(
    title: str,
    bars: Sequence[tuple[str, float | None, int]],
    empty: str = "No runs yet.",
    x_caption: str = "hour (UTC)",
) -> Markup:
    """Failure rates (0 to 1) as bars: (label, rate or None when no run, runs counted)."""
    if not any(n for _, _, n in bars):
        return Markup('<p class="muted chart-empty">{}</p>').format(empty)
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = inner_w / len(bars)
    body = []
    for i, (label, rate, runs) in enumerate(bars):
        tip = f"{label}: " + ("no runs" if rate is None else f"{rate:.0%} of {runs} runs failed")
        height = (rate or 0.0) * inner_h
        kind = "bar failed" if rate else "bar"
        body.append(
            f'<rect class="{kind}" x="{LEFT + i * step + 1:.1f}" y="{TOP + inner_h - height:.1f}" '
            f'width="{max(1.0, step - 2):.1f}" height="{max(height, 0.5 if runs else 0):.1f}">'
            f"<title>{escape(tip)}</title></rect>"
        )
    body += _x_axis(bars[0][0], bars[-1][0], x_caption)
    ticks = [(TOP + inner_h * (1 - i / 4), f"{i * 25}%") for i in range(5)]
    total = sum(n for _, _, n in bars)
    failed = sum(round((r or 0) * n) for _, r, n in bars)
    label = f"{title}: {failed} of {total} runs failed"
    return _frame(label, body, ticks)


def run_charts(
    engine: Engine, now: datetime, *, job: str | None = None, schedule: str | None = None
) -> dict[str, Markup]:
    """The charts of a job's or a schedule's page (the one function here that reads)."""
    points = recent_points(engine, job=job, schedule=schedule)
    late = [(p.at, p.lateness_ms, p.failed) for p in points if p.lateness_ms is not None]
    ran = [(p.at, p.runtime_ms, p.failed) for p in points if p.runtime_ms is not None]
    # A run is placed at its scheduled time, or when it was enqueued if it has none.
    charts = {
        "lateness": time_chart(
            "Lateness", late, "No scheduled run has finished yet.", "scheduled time (UTC)"
        ),
        "duration": time_chart(
            "Duration", ran, "No run has finished yet.", "scheduled or enqueued (UTC)"
        ),
    }
    if job is not None:
        buckets = failure_buckets(engine, job, now)
        bars = [(_stamp(b.start), b.failure_rate, b.runs) for b in buckets]
        charts["failures"] = rate_bars(
            "Failure rate per hour", bars, "No run in 24 h.", "hour enqueued (UTC)"
        )
    return charts
