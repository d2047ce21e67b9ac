"""Deterministic start offsets that spread schedules sharing a fire time across a window."""

from __future__ import annotations

import hashlib
from datetime import datetime
from itertools import pairwise

from jobs.schedules.triggers import Trigger

# Namespacing the digest keeps these offsets independent of any other hash of the same name.
_DOMAIN = b"beatkeeper.beat.jitter\x00"


def jitter_offset(schedule_name: str, window_seconds: int) -> int:
    """Whole seconds in ``[0, window_seconds)`` derived from the name, the same in every process."""
    if window_seconds < 0:
        raise ValueError(f"window_seconds must not be negative, got {window_seconds}")
    if window_seconds == 0:
        return 0
    # hash() is salted per process; SHA-256 is stable, and 64 bits make the modulo bias negligible.
    digest = hashlib.sha256(_DOMAIN + schedule_name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % window_seconds


def shortest_gap(trigger: Trigger, start: datetime, fires: int = 64) -> int | None:
    """Whole seconds between the two closest of the next ``fires`` fires (None: fewer than two).

    Jitter must stay below it, as it stays below an interval, so that a fire is not sent after
    the next one is due. Sampling 64 fires sees every gap of a daily or weekly pattern.
    """
    upcoming = trigger.upcoming(start, fires)
    gaps = [int((b - a).total_seconds()) for a, b in pairwise(upcoming)]
    return min(gaps, default=None)
