"""When schedules fire: cron, fixed-interval and one-shot triggers, as pure functions of time.

Every datetime taken or returned is timezone-aware (a naive one is a ``ValueError``); results are
in ``datetime.UTC``. A cron expression is matched against wall-clock time in its own IANA zone:

* A matching wall time that a spring-forward gap skips fires once, at the first real instant after
  the gap (``30 2 * * *`` in New York on 2026-03-08 fires at 03:00 EDT); every skipped time of one
  gap collapses into that single fire, which also absorbs a real match at the same instant.
* A matching wall time that a fall-back repeats fires once, at its first occurrence (fold=0).
* Except: a schedule whose hour field covers every hour (``*``, ``*/1``, ``0-23``) follows the
  real clock. It fires at every instant whose wall time matches, so both passes of a repeated
  hour fire, and times inside a gap are not fired because the hour after the jump stands in for
  them (``0 * * * *`` runs 01:00 EST then 03:00 EDT on spring-forward day, with no catch-up fire).

Fire times from one trigger are strictly increasing and never repeat. Cron fields are
``[second] minute hour day-of-month month day-of-week``; as in Vixie cron, when both day fields
are restricted (their values miss part of the range) a day matches if either does. ``a/n`` means
``a-max/n``, and an expression whose day-of-month never occurs in its months is rejected.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_left, bisect_right
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jobs.errors import Invalid

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_SECOND = timedelta(seconds=1)
_MIN_YEAR, _MAX_YEAR = 2, 9998  # one year of margin so local times never leave datetime's range
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_PROBE_STEP = 6 * 3600  # tzdata never changes an offset twice within two days
_FIELDS = (
    ("second", 0, 59),
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
)
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_NAMES = {
    "month": {name: i for i, name in enumerate(_MONTHS, start=1)},
    "day-of-week": {name: i for i, name in enumerate(_WEEKDAYS)},
}


class TriggerError(Invalid):
    """A schedule that cannot be built; ``field`` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__([{"field": field, "message": message}])
        self.field = field
        self.message = message

    def __reduce__(self) -> tuple[type[TriggerError], tuple[str, str]]:
        return (TriggerError, (self.field, self.message))


def _require_aware(t: datetime) -> None:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"naive datetime {t!r}: pass a timezone-aware UTC datetime")


def _to_seconds(t: datetime) -> int:
    """Whole seconds since the epoch, rounded down, of an aware datetime."""
    _require_aware(t)
    if t.year < _MIN_YEAR:
        raise ValueError(f"{t!r} is before the supported year {_MIN_YEAR}")
    return (t - _EPOCH) // _SECOND


def _from_seconds(seconds: int) -> datetime:
    return _EPOCH + timedelta(seconds=seconds)


def _year_of(seconds: int) -> int:
    return date.fromordinal(_EPOCH_ORDINAL + seconds // 86400).year


def _year_start(year: int) -> int:
    return (date(year, 1, 1).toordinal() - _EPOCH_ORDINAL) * 86400


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _offset(zone: ZoneInfo, seconds: int) -> int:
    return (datetime.fromtimestamp(seconds, zone).utcoffset() or timedelta(0)) // _SECOND


@lru_cache(maxsize=8192)
def _transitions(zone: ZoneInfo, year: int) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """The offset at the year's start, then each change in (start, next start] and its offset."""
    # zoneinfo keeps its transition table private, so it is rebuilt by probing the public API once.
    start, end = _year_start(year), _year_start(year + 1)
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


def _offset_at(zone: ZoneInfo, seconds: int) -> tuple[int, int | None, int]:
    """The offset in force at an instant, with the latest change up to it and the offset before."""
    year = _year_of(seconds)
    first, instants, offsets = _transitions(zone, year)
    i = bisect_right(instants, seconds)
    if i:
        return offsets[i - 1], instants[i - 1], offsets[i - 2] if i > 1 else first
    if year == _MIN_YEAR:
        return first, None, first
    # A change late last year can still bound this year's first hours (the fall-back rule).
    last_first, last_instants, last_offsets = _transitions(zone, year - 1)
    if not last_instants:
        return first, None, first
    before = last_offsets[-2] if len(last_offsets) > 1 else last_first
    return first, last_instants[-1], before


def _next_transition(zone: ZoneInfo, after: int, until: int) -> tuple[int, int] | None:
    """The first offset change in (after, until], with the offset it brings."""
    for year in range(_year_of(after), _year_of(until) + 1):
        _, instants, offsets = _transitions(zone, year)
        i = bisect_right(instants, after)
        if i < len(instants):
            return (instants[i], offsets[i]) if instants[i] <= until else None
    return None


class Trigger(ABC):
    """Something that fires at instants; subclasses say which instant follows a given one."""

    @abstractmethod
    def next_after(self, t: datetime) -> datetime | None:
        """The first fire strictly after ``t``, or None when there is none."""

    def upcoming(self, t: datetime, n: int) -> list[datetime]:
        """The next ``n`` fires after ``t`` (fewer if the trigger runs out)."""
        if n < 0:
            raise ValueError(f"n must not be negative, got {n}")
        fires: list[datetime] = []
        current: datetime | None = t
        while len(fires) < n and current is not None:
            current = self.next_after(current)
            if current is not None:
                fires.append(current)
        return fires


def _parse_value(token: str, name: str, low: int, high: int) -> int:
    names = _NAMES.get(name, {})
    if token.upper() in names:
        return names[token.upper()]
    if not (token.isascii() and token.isdigit()):
        kind = "a number or name" if names else "a number"
        raise TriggerError("cron", f"{name} field '{token}' is not {kind}")
    value = int(token)
    if not low <= value <= high:
        raise TriggerError("cron", f"{name} field '{token}' out of range {low}-{high}")
    return value


def _parse_field(text: str, name: str, low: int, high: int) -> tuple[int, ...]:
    values: set[int] = set()
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not (step_text.isascii() and step_text.isdigit()) or int(step_text) < 1:
                raise TriggerError("cron", f"{name} field '{item}' needs a step of at least 1")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = (_parse_value(first, name, low, high), _parse_value(last, name, low, high))
            if start > end:
                raise TriggerError("cron", f"{name} field '{item}' has a range that runs backwards")
        else:
            start = _parse_value(base, name, low, high)
            end = high if slash else start
        values.update(range(start, end + 1, step))
    if name == "day-of-week" and 7 in values:
        values = (values - {7}) | {0}  # both 0 and 7 mean Sunday
    return tuple(sorted(values))


class CronTrigger(Trigger):
    """A cron expression evaluated in the wall-clock time of an IANA zone."""

    def __init__(self, expression: str, timezone: str, fields: tuple[tuple[int, ...], ...]) -> None:
        """Use :meth:`parse`; ``fields`` are the six sorted value tuples it builds."""
        self.expression, self.timezone = expression, timezone
        self.seconds, self.minutes, self.hours, self.days, self.months, self.weekdays = fields
        self._zone = ZoneInfo(timezone)
        self._every_hour = len(self.hours) == 24
        # None marks an unrestricted day field, which matters for the Vixie either-day rule.
        self._dom_days = None if len(self.days) == 31 else self.days
        self._dow_gap = (
            None
            if len(self.weekdays) == 7
            else tuple(min((w - d) % 7 for w in self.weekdays) for d in range(7))
        )

    @classmethod
    def parse(cls, expr: str, timezone: str) -> CronTrigger:
        """Parse 5 fields, or 6 with leading seconds, for the IANA zone ``timezone``."""
        parts = expr.split()
        if len(parts) not in (5, 6):
            raise TriggerError("cron", f"expected 5 or 6 fields, got {len(parts)} in '{expr}'")
        if len(parts) == 5:
            parts.insert(0, "0")
        fields = tuple(_parse_field(p, *spec) for p, spec in zip(parts, _FIELDS, strict=True))
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise TriggerError("timezone", f"unknown IANA time zone '{timezone}'") from None
        days, months, weekdays = fields[3], fields[4], fields[5]
        if (
            len(days) < 31
            and len(weekdays) == 7
            and not any(d <= (29 if m == 2 else _DAYS_IN_MONTH[m]) for d in days for m in months)
        ):
            raise TriggerError(
                "cron", f"day-of-month '{parts[3]}' never occurs in month '{parts[4]}'"
            )
        return cls(expr, timezone, fields)

    def __repr__(self) -> str:
        return f"CronTrigger.parse({self.expression!r}, {self.timezone!r})"

    def _day_on_or_after(self, year: int, month: int, day: int) -> int | None:
        last = 29 if month == 2 and _is_leap(year) else _DAYS_IN_MONTH[month]
        if day > last:
            return None
        if self._dom_days is None and self._dow_gap is None:
            return day
        best = 99
        if self._dom_days is not None:
            i = bisect_left(self._dom_days, day)
            if i < len(self._dom_days):
                best = self._dom_days[i]
        if self._dow_gap is not None:
            weekday = (date(year, month, day).weekday() + 1) % 7  # cron counts from Sunday
            best = min(best, day + self._dow_gap[weekday])
        return best if best <= last else None

    def _wall_on_or_after(self, wall: int) -> int | None:
        """The first matching wall-clock second at or after ``wall`` (seconds as if UTC)."""
        day_number, rest = divmod(wall, 86400)
        d = date.fromordinal(_EPOCH_ORDINAL + day_number)
        y, mo, dd, h, mi, s = d.year, d.month, d.day, rest // 3600, rest // 60 % 60, rest % 60
        months, hours, minutes, seconds = self.months, self.hours, self.minutes, self.seconds
        while y <= _MAX_YEAR:
            i = bisect_left(months, mo)
            if i == len(months):
                y, mo, dd, h, mi, s = y + 1, months[0], 1, 0, 0, 0
                continue
            if months[i] != mo:
                mo, dd, h, mi, s = months[i], 1, 0, 0, 0
            day = self._day_on_or_after(y, mo, dd)
            if day is None:
                mo, dd, h, mi, s = mo + 1, 1, 0, 0, 0
                continue
            if day != dd:
                dd, h, mi, s = day, 0, 0, 0
            i = bisect_left(hours, h)
            if i == len(hours):
                dd, h, mi, s = dd + 1, 0, 0, 0
                continue
            if hours[i] != h:
                h, mi, s = hours[i], 0, 0
            i = bisect_left(minutes, mi)
            if i == len(minutes):
                h, mi, s = h + 1, 0, 0
                continue
            if minutes[i] != mi:
                mi, s = minutes[i], 0
            i = bisect_left(seconds, s)
            if i == len(seconds):
                mi, s = mi + 1, 0
                continue
            ordinal = date(y, mo, dd).toordinal() - _EPOCH_ORDINAL
            return ordinal * 86400 + h * 3600 + mi * 60 + seconds[i]
        return None

    def next_after(self, t: datetime) -> datetime | None:
        """Walk matching wall times one offset period at a time, applying the DST rules above."""
        now = _to_seconds(t)
        if t.year > _MAX_YEAR:
            return None
        zone = self._zone
        offset, changed_at, offset_before = _offset_at(zone, now)
        lowest = now + offset + 1
        if changed_at is not None and offset_before > offset and not self._every_hour:
            lowest = max(lowest, changed_at + offset_before)  # the repeated hour already fired
        cursor = now
        while True:
            wall = self._wall_on_or_after(lowest)
            if wall is None:
                return None
            change = _next_transition(zone, cursor, wall - offset)
            if change is None:
                return _from_seconds(wall - offset)
            cursor, new_offset = change
            if new_offset > offset:
                # wall lies at or past the gap's start; inside it means a skipped match.
                if wall < cursor + new_offset and not self._every_hour:
                    return _from_seconds(cursor)
                lowest = cursor + new_offset
            else:
                lowest = cursor + (new_offset if self._every_hour else offset)
            offset = new_offset


class IntervalTrigger(Trigger):
    """Fires at ``anchor + k * every_seconds`` for every integer ``k``."""

    def __init__(self, every_seconds: int, anchor: datetime) -> None:
        if isinstance(every_seconds, bool) or not isinstance(every_seconds, int):
            raise TriggerError("interval", f"every_seconds must be an int, got {every_seconds!r}")
        if every_seconds < 1:
            raise TriggerError("interval", f"every_seconds must be at least 1, got {every_seconds}")
        _require_aware(anchor)
        self.every_seconds = every_seconds
        self.anchor = anchor.astimezone(UTC)
        self._step = timedelta(seconds=every_seconds)

    def __repr__(self) -> str:
        return f"IntervalTrigger({self.every_seconds!r}, {self.anchor!r})"

    def next_after(self, t: datetime) -> datetime | None:
        """The grid point just past ``t``; floor division keeps anchors in the future exact."""
        _require_aware(t)
        k = (t - self.anchor) // self._step + 1
        try:
            return self.anchor + k * self._step
        except OverflowError:
            return None


class OnceTrigger(Trigger):
    """Fires exactly once, at ``at``."""

    def __init__(self, at: datetime) -> None:
        _require_aware(at)
        self.at = at.astimezone(UTC)

    def __repr__(self) -> str:
        return f"OnceTrigger({self.at!r})"

    def next_after(self, t: datetime) -> datetime | None:
        """``at`` while it is still ahead of ``t``, then None."""
        _require_aware(t)
        return self.at if self.at > t else None
