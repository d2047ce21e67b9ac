"""Time-zone arithmetic for triggers: epoch seconds, and the offset changes of an IANA zone.

Everything here works in whole seconds since the epoch so that the trigger's walk can compare
wall-clock and real times as integers; zoneinfo's own transition table is private, so the
changes are rebuilt once per zone and year by probing its public API.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_SECOND = timedelta(seconds=1)
MIN_YEAR, MAX_YEAR = 2, 9998  # one year of margin so local times never leave datetime's range
_PROBE_STEP = 6 * 3600  # tzdata never changes an offset twice within two days


def require_aware(t: datetime) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"naive datetime {t!r}: pass a timezone-aware UTC datetime")


def to_seconds(t: datetime) -> int:
    """Whole seconds since the epoch, rounded down, of an aware datetime."""
    require_aware(t)
    if t.year < MIN_YEAR:
        raise ValueError(f"{t!r} is before the supported year {MIN_YEAR}")
    return (t - EPOCH) // _SECOND


def from_seconds(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def year_of(seconds: int) -> int:
    return date.fromordinal(EPOCH_ORDINAL + seconds // 86400).year


def year_start(year: int) -> int:
    return (date(year, 1, 1).toordinal() - EPOCH_ORDINAL) * 86400


def is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _offset(zone: ZoneInfo, seconds: int) -> int:
    return (datetime.fromtimestamp(seconds, zone).utcoffset() or timedelta(0)) // _SECOND


@lru_cache(maxsize=8192)
def _transitions(zone: ZoneInfo, year: int) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """The offset at the year's start, then each change in (start, next start] and its offset."""
    # zoneinfo keeps its transition table private, so it is rebuilt by probing the public API once.
    start, end = year_start(year), year_start(year + 1)
    first = current = _offset(zone, start)
    instants: list[int] = []
    offsets: list[int] = []
    at = start
    while at < end:
        probe = min(at + _PROBE_STEP, end)
        if _offset(zone, probe) == current:
            at = probe
            continue
        low, high = at, probe
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if _offset(zone, mid) == current else (low, mid)
        at, current = high, _offset(zone, high)
        instants.append(high)
        offsets.append(current)
    return first, tuple(instants), tuple(offsets)


def offset_at(zone: ZoneInfo, seconds: int) -> tuple[int, int | None, int]:
    """The offset in force at an instant, with the latest change up to it and the offset before."""
    year = year_of(seconds)
    first, instants, offsets = _transitions(zone, year)
    i = bisect_right(instants, seconds)
    if i:
        return offsets[i - 1], instants[i - 1], offsets[i - 2] if i > 1 else first
    if year == MIN_YEAR:
        return first, None, first
    # A change late last year can still bound this year's first hours (the fall-back rule).
    last_first, last_instants, last_offsets = _transitions(zone, year - 1)
    if not last_instants:
        return first, None, first
    before = last_offsets[-2] if len(last_offsets) > 1 else last_first
    return first, last_instants[-1], before


def next_transition(zone: ZoneInfo, after: int, until: int) -> tuple[int, int] | None:
    """The first offset change in (after, until], with the offset it brings."""
    for year in range(year_of(after), year_of(until) + 1):
        _, instants, offsets = _transitions(zone, year)
        i = bisect_right(instants, after)
        if i < len(instants):
            return (instants[i], offsets[i]) if instants[i] <= until else None
    return None
