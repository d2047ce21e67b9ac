"""Which fires a schedule missed while the beat was down, under a catch-up policy."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from jobs.schedules.triggers import Trigger

Policy = Literal["skip", "latest", "all"]
_POLICIES = ("skip", "latest", "all")
_RESOLUTION = timedelta(microseconds=1)


def _require_aware(name: str, t: datetime) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"{name} is a naive datetime {t!r}: pass a timezone-aware UTC datetime")


def _latest(trigger: Trigger, first: datetime, now: datetime) -> datetime:
    """The last fire at or before ``now``, given ``first`` is one: bisection, not a full replay."""
    # A per-second schedule down for a month has millions of fires; halving needs ~45 steps.
    low, high = first, now  # low is a fire; no fire lies in (high, now]
    while True:
        following = trigger.next_after(low)
        if following is None or following > now:
            return low
        middle = low + (high - low) / 2
        probe = trigger.next_after(middle)
        if probe is not None and probe <= now:
            low = probe
        else:
            low, high = following, middle


def missed_fires(
    trigger: Trigger,
    last_fire: datetime | None,
    now: datetime,
    policy: Policy,
    window_seconds: int,
    limit: int = 1000,
) -> list[datetime]:
    """Fires in ``(last_fire, now]`` to run late: none, the latest, or all within the window.

    ``all`` returns the oldest ``limit`` fires no older than ``now - window_seconds``, oldest first,
    so a caller can page on by passing the last one back as ``last_fire``.
    """
    if policy not in _POLICIES:
        raise ValueError(f"policy must be one of {', '.join(_POLICIES)}, got {policy!r}")
    if window_seconds < 0:
        raise ValueError(f"window_seconds must not be negative, got {window_seconds}")
    if limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")
    _require_aware("now", now)
    if last_fire is None:
        return []  # a schedule that never ran has nothing to catch up on
    _require_aware("last_fire", last_fire)
    if policy == "skip" or last_fire >= now:
        return []
    if policy == "latest":
        first = trigger.next_after(last_fire)
        return [] if first is None or first > now else [_latest(trigger, first, now)]
    # Fires sit on whole microseconds, so starting one tick early keeps a fire at the cutoff.
    try:
        cutoff = now - timedelta(seconds=window_seconds) - _RESOLUTION
    except OverflowError:
        cutoff = last_fire  # a window reaching before year 1 covers every missed fire
    fires: list[datetime] = []
    current = trigger.next_after(max(last_fire, cutoff))
    while current is not None and current <= now and len(fires) < limit:
        fires.append(current)
        current = trigger.next_after(current)
    return fires
