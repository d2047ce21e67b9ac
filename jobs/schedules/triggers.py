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

Fire times from one trigger are strictly increasing and never repeat. The grammar (five fields,
or six with seconds first, and macros) is in cron_fields; which days match, with Vixie cron's
rule for the two day fields and ``L``, ``W`` and ``#``, is in cron_days. An expression whose days
never occur in its months is rejected.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_left
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jobs.schedules.cron_fields import CronFields, parse_fields
from jobs.schedules.errors import TriggerError
from jobs.schedules.zones import (
    EPOCH_ORDINAL,
    MAX_YEAR,
    from_seconds,
    is_leap,
    next_transition,
    offset_at,
    require_aware,
    to_seconds,
)

__all__ = [
    "CronTrigger",
    "IntervalTrigger",
    "OnceTrigger",
    "Trigger",
    "TriggerError",
    "on_same_grid",
    "phase_anchor",
]

_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MONTH_CACHE = 512  # months of matching days kept per trigger


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


class CronTrigger(Trigger):
    """A cron expression evaluated in the wall-clock time of an IANA zone."""

    def __init__(self, expression: str, timezone: str, fields: CronFields) -> None:
        """Use :meth:`parse`."""
        self.expression, self.timezone, self.fields = expression, timezone, fields
        self.seconds, self.minutes, self.hours = fields.seconds, fields.minutes, fields.hours
        self.months, self.rule = fields.months, fields.days
        # The plain values of the day fields; L, W and # live in ``rule``.
        self.days, self.weekdays = self.rule.dom, self.rule.dow
        self._zone = ZoneInfo(timezone)
        self._every_hour = len(self.hours) == 24
        self._month_days: dict[tuple[int, int], tuple[int, ...]] = {}

    @classmethod
    def parse(cls, expr: str, timezone: str) -> CronTrigger:
        """Parse 5 fields, 6 with seconds first, or a macro, for the IANA zone ``timezone``."""
        fields = parse_fields(expr)
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise TriggerError("timezone", f"unknown IANA time zone '{timezone}'") from None
        rule = fields.days
        if not rule.ever_matches(fields.months):
            parts = expr.split()
            dom, month, dow = parts[-3], parts[-2], parts[-1]
            if not rule.both_restricted and not rule.by_date_ever_occurs(fields.months):
                message = f"day-of-month '{dom}' never occurs in month '{month}'"
            else:
                both = "and" if not rule.both_restricted else "or"
                message = (
                    f"day-of-month '{dom}' {both} day-of-week '{dow}' never select a day "
                    f"in month '{month}'"
                )
            raise TriggerError("cron", message)
        return cls(expr, timezone, fields)

    def __repr__(self) -> str:
        return f"CronTrigger.parse({self.expression!r}, {self.timezone!r})"

    def _day_on_or_after(self, year: int, month: int, day: int) -> int | None:
        if self.rule.every_day:
            last = 29 if month == 2 and is_leap(year) else _DAYS_IN_MONTH[month]
            return day if day <= last else None
        days = self._month_days.get((year, month))
        if days is None:
            if len(self._month_days) >= _MONTH_CACHE:
                self._month_days.clear()  # a long walk (a rare schedule) must not grow it forever
            days = self._month_days[(year, month)] = self.rule.days_in(year, month)
        i = bisect_left(days, day)
        return days[i] if i < len(days) else None

    def _wall_on_or_after(self, wall: int) -> int | None:
        """The first matching wall-clock second at or after ``wall`` (seconds as if UTC)."""
        day_number, rest = divmod(wall, 86400)
        d = date.fromordinal(EPOCH_ORDINAL + day_number)
        y, mo, dd, h, mi, s = d.year, d.month, d.day, rest // 3600, rest // 60 % 60, rest % 60
        months, hours, minutes, seconds = self.months, self.hours, self.minutes, self.seconds
        while y <= MAX_YEAR:
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
            ordinal = date(y, mo, dd).toordinal() - EPOCH_ORDINAL
            return ordinal * 86400 + h * 3600 + mi * 60 + seconds[i]
        return None

    def next_after(self, t: datetime) -> datetime | None:
        """Walk matching wall times one offset period at a time, applying the DST rules above."""
        now = to_seconds(t)
        if t.year > MAX_YEAR:
            return None
        zone = self._zone
        offset, changed_at, offset_before = offset_at(zone, now)
        lowest = now + offset + 1
        if changed_at is not None and offset_before > offset and not self._every_hour:
            lowest = max(lowest, changed_at + offset_before)  # the repeated hour already fired
        cursor = now
        while True:
            wall = self._wall_on_or_after(lowest)
            if wall is None:
                return None
            change = next_transition(zone, cursor, wall - offset)
            if change is None:
                return from_seconds(wall - offset)
            cursor, new_offset = change
            if new_offset > offset:
                # wall lies at or past the gap's start; inside it means a skipped match.
                if wall < cursor + new_offset and not self._every_hour:
                    return from_seconds(cursor)
                lowest = cursor + new_offset
            else:
                lowest = cursor + (new_offset if self._every_hour else offset)
            offset = new_offset


class IntervalTrigger(Trigger):
    """Fires at ``anchor + k * every_seconds`` for every integer ``k``.

    It counts elapsed time, not wall-clock time: a daily interval whose grid sits at 09:00 EST
    fires at 10:00 EDT after the spring-forward. The anchor sets the phase of the grid.
    """

    def __init__(self, every_seconds: int, anchor: datetime) -> None:
        if isinstance(every_seconds, bool) or not isinstance(every_seconds, int):
            raise TriggerError("interval", f"every_seconds must be an int, got {every_seconds!r}")
        if every_seconds < 1:
            raise TriggerError("interval", f"every_seconds must be at least 1, got {every_seconds}")
        require_aware(anchor)
        self.every_seconds = every_seconds
        self.anchor = anchor.astimezone(UTC)
        self._step = timedelta(seconds=every_seconds)

    def __repr__(self) -> str:
        return f"IntervalTrigger({self.every_seconds!r}, {self.anchor!r})"

    def next_after(self, t: datetime) -> datetime | None:
        """The grid point just past ``t``; floor division keeps anchors in the future exact."""
        require_aware(t)
        k = (t - self.anchor) // self._step + 1
        try:
            return self.anchor + k * self._step
        except OverflowError:
            return None


def phase_anchor(anchor: datetime, every_seconds: int, now: datetime) -> datetime:
    """The point of ``anchor``'s grid stored as a schedule's anchor: ``anchor`` itself when it is
    not after ``now``, else the latest grid point at or before ``now``, so that the first fire is
    the first grid point after ``now`` (possibly before ``anchor``: the anchor is a phase)."""
    require_aware(anchor)
    if anchor <= now:
        return anchor.astimezone(UTC)
    step = timedelta(seconds=every_seconds)
    periods = -((now - anchor) // step)  # whole periods to step back, rounded up
    return (anchor - periods * step).astimezone(UTC)


def on_same_grid(anchor: datetime, other: datetime, every_seconds: int) -> bool:
    """Do two anchors give an interval the same fire times (they differ by whole periods)?"""
    return (anchor - other) % timedelta(seconds=every_seconds) == timedelta(0)


class OnceTrigger(Trigger):
    """Fires exactly once, at ``at``."""

    def __init__(self, at: datetime) -> None:
        require_aware(at)
        self.at = at.astimezone(UTC)

    def __repr__(self) -> str:
        return f"OnceTrigger({self.at!r})"

    def next_after(self, t: datetime) -> datetime | None:
        """``at`` while it is still ahead of ``t``, then None."""
        require_aware(t)
        return self.at if self.at > t else None
